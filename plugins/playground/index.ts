import { Type } from '@sinclair/typebox';
import { definePlugin } from '../../core/plugin.js';
import { loadApp } from './build.js';
import { playgroundPage } from './page.js';

const PLUGIN = 'playground';

/**
 * GET /playground: try a workflow in the browser without writing code — a form generated from
 * /workflow-info, live progress from the websocket, results inline, interrupt, recent history.
 * On in the default config; a production config turns it off with `playground: false`.
 */
export default definePlugin({
  name: PLUGIN,
  description: 'GET /playground — a page to try workflows: generated form, live progress, results, history.',
  options: Type.Object(
    { historyLimit: Type.Integer({ minimum: 1, maximum: 100, default: 12, description: 'Rows of recent history the page shows.' }) },
    { additionalProperties: false },
  ),
  register(ctx) {
    const page = playgroundPage(ctx.options.historyLimit);
    let app: Promise<Buffer> | undefined;

    ctx.route({
      method: 'get',
      path: '/playground',
      summary: 'Playground page',
      description: 'Try a workflow in the browser: pick it, fill the form, run it, watch progress, see the results. With auth on it asks for a key.',
      tags: ['documentation'],
      scope: 'public',
      responses: { '200': { description: 'HTML page.', contentType: 'text/html' } },
      handler(http) {
        http.type = 'text/html; charset=utf-8';
        http.set('Cache-Control', 'no-cache');
        http.body = page;
      },
    });
    ctx.route({
      method: 'get',
      path: '/playground/app.js',
      summary: 'Playground script',
      description: 'The page’s script, bundled from plugins/playground/ui and the client SDK on first request.',
      tags: ['documentation'],
      scope: 'public',
      responses: { '200': { description: 'JavaScript module.', contentType: 'application/javascript' } },
      async handler(http) {
        // A failed build is not cached: the next request tries again (and the error is logged).
        app ??= loadApp().catch((error: unknown) => {
          app = undefined;
          throw error;
        });
        http.type = 'application/javascript; charset=utf-8';
        http.set('Cache-Control', 'no-cache');
        http.body = await app;
      },
    });
  },
});
