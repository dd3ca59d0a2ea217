import { Type } from '@sinclair/typebox';
import { readFileSync } from 'node:fs';
import { definePlugin } from '../../core/plugin.js';
import { mountReady } from './ready.js';

const PLUGIN = 'util';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** Liveness: answers while the process is up, with no dependency on storage or backends. */
export default definePlugin({
  name: PLUGIN,
  description: 'GET /health (liveness, version) and GET /ready (storage and backends).',
  optionalDependencies: ['storage', 'transport'],
  options: Type.Object({}, { additionalProperties: false }),
  register(ctx) {
    ctx.route({
      method: 'get',
      path: '/health',
      summary: 'Liveness',
      description: 'Answers 200 while the process is up. Never needs a key.',
      tags: ['operations'],
      scope: 'public',
      responses: {
        '200': {
          description: 'The process is up.',
          schema: {
            type: 'object',
            required: ['status', 'version'],
            properties: { status: { const: 'ok' }, version: { type: 'string' }, uptime_s: { type: 'number' } },
          },
          example: { status: 'ok', version: '0.1.0', uptime_s: 3600 },
        },
      },
      handler(http) {
        http.body = { status: 'ok', version, uptime_s: Math.round(process.uptime()) };
      },
    });
    mountReady(ctx);
  },
});
