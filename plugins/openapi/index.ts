import { Type } from '@sinclair/typebox';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { definePlugin } from '../../core/plugin.js';
import { buildDocument } from './build-document.js';
import { DESCRIPTION } from './description.js';
import { docsPage } from './docs-page.js';

const PLUGIN = 'openapi';
const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
// Redoc 2's standalone bundle works offline (no CDN, no web fonts); Redoc 3 needs Node 22.
const REDOC_BUNDLE = createRequire(import.meta.url).resolve('redoc/bundles/redoc.standalone.js');

/**
 * The bundle's sidebar shows a "powered by" logo fetched from Redocly's CDN; swap it for an empty inline
 * image so the page makes no request outside this server.
 */
function offlineBundle(): Buffer {
  const source = readFileSync(REDOC_BUNDLE, 'utf8');
  return Buffer.from(source.replaceAll('https://cdn.redoc.ly/redoc/logo-mini.svg', 'data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/svg%22/%3E'));
}

/** GET /openapi.json (every mounted route, from the schemas that validate them) and GET /docs (Redoc, offline). */
export default definePlugin({
  name: PLUGIN,
  description: 'OpenAPI 3.1 document of the mounted routes and a browsable reference at /docs.',
  optionalDependencies: ['workflows'],
  options: Type.Object({}, { additionalProperties: false }),
  register(ctx) {
    let redoc: Buffer | undefined;
    const document = () =>
      buildDocument(ctx.routes(), {
        version,
        serverUrl: ctx.config.server.publicUrl,
        authEnabled: ctx.tryUse('access') !== undefined,
        description: DESCRIPTION,
      });

    ctx.route({
      method: 'get',
      path: '/openapi.json',
      summary: 'OpenAPI document',
      description: 'OpenAPI 3.1 document of every route this server mounts.',
      tags: ['documentation'],
      scope: 'public',
      responses: {
        '200': {
          description: 'The document.',
          schema: { type: 'object', required: ['openapi', 'info', 'paths'], properties: { openapi: { const: '3.1.0' }, info: { type: 'object' }, paths: { type: 'object' } } },
          example: { openapi: '3.1.0', info: { title: 'comfy-bridge', version }, paths: { '/health': { get: { summary: 'Liveness' } } } },
        },
      },
      async handler(http) {
        http.body = await document();
      },
    });
    ctx.route({
      method: 'get',
      path: '/docs',
      summary: 'API reference page',
      description: 'A browsable reference of /openapi.json that works offline.',
      tags: ['documentation'],
      scope: 'public',
      responses: { '200': { description: 'HTML page.', contentType: 'text/html' } },
      handler(http) {
        http.type = 'text/html; charset=utf-8';
        http.body = docsPage();
      },
    });
    ctx.route({
      method: 'get',
      path: '/docs/redoc.standalone.js',
      summary: 'Redoc bundle',
      tags: ['documentation'],
      scope: 'public',
      responses: { '200': { description: 'JavaScript.', contentType: 'application/javascript' } },
      handler(http) {
        redoc ??= offlineBundle();
        http.type = 'application/javascript; charset=utf-8';
        http.set('Cache-Control', 'public, max-age=86400');
        http.body = redoc;
      },
    });
  },
});
