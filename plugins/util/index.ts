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
    // The answer changes once a second (uptime_s): serialised then, not on every request.
    let health = { uptime: -1, bytes: Buffer.alloc(0) };
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
        const uptime = Math.round(process.uptime());
        if (uptime !== health.uptime) health = { uptime, bytes: Buffer.from(JSON.stringify({ status: 'ok', version, uptime_s: uptime })) };
        http.set('Content-Type', 'application/json; charset=utf-8');
        http.body = health.bytes;
      },
    });
    mountReady(ctx);
  },
});
