import type { Context } from 'koa';
import { STAGE } from '../../core/hooks.js';
import { forbidden } from '../../core/errors.js';
import { definePlugin } from '../../core/plugin.js';
import { optionsSchema, type CorsOptions } from './options.js';
import { OriginPolicy } from './policy.js';

const PLUGIN = 'cors';
/** The websocket endpoint of the ws plugin (named, not imported: plugins do not import each other). */
const WS_PATH = '/ws';
const METHODS = 'GET, HEAD, POST, OPTIONS';

/**
 * CORS for browser apps on other origins: an exact-origin allowlist, preflights answered, the origin
 * echoed (never `*`), `Origin: null` refused, and the websocket upgrade checked against the same list.
 * Off by default.
 *
 * It needs no kernel middleware: headers are set in `onResponse`, which runs after the route (or the
 * error mapper) and before Koa writes the response; the websocket upgrade calls the `authenticate`
 * hook, which this plugin taps before the auth plugin (a stage below STAGE.AUTH) to refuse a foreign Origin.
 */
export default definePlugin<CorsOptions>({
  name: PLUGIN,
  description: 'CORS for browser apps on other origins (exact allowlist); checks the websocket Origin against the same list.',
  options: optionsSchema,
  register(ctx) {
    const { options } = ctx;
    const policy = new OriginPolicy(options.origins);
    const allowHeaders = options.allowHeaders.join(', ');
    const exposeHeaders = options.exposeHeaders.join(', ');

    ctx.hooks.onResponse.tap(PLUGIN, (http: Context) => {
      // Caches must not hand one origin's answer to another.
      http.vary('Origin');
      const origin = http.get('Origin') || undefined;
      if (!policy.allows(origin)) return;
      http.set('Access-Control-Allow-Origin', origin);
      if (options.credentials) http.set('Access-Control-Allow-Credentials', 'true');
      if (http.method === 'OPTIONS' && http.get('Access-Control-Request-Method')) {
        // The preflight: answered here whatever the route table said (a 404 path gets its real 404 on the actual request).
        http.status = 204;
        http.body = null;
        http.remove('Allow');
        http.set('Access-Control-Allow-Methods', METHODS);
        http.set('Access-Control-Allow-Headers', allowHeaders);
        http.set('Access-Control-Max-Age', String(options.maxAgeSeconds));
        return;
      }
      if (exposeHeaders) http.set('Access-Control-Expose-Headers', exposeHeaders);
    });

    // Browsers do not apply CORS to websockets: without this any page could open /ws with the user's network position.
    ctx.hooks.authenticate.tap({ name: PLUGIN, stage: STAGE.AUTH - 10 }, (request) => {
      if (request.path !== WS_PATH) return undefined;
      const origin = single(request.headers.origin);
      if (!policy.allowsSocket(origin, single(request.headers.host), ctx.config.server.publicUrl)) {
        throw forbidden(`websocket connections from origin ${origin} are not allowed (plugins.cors.origins)`);
      }
      return undefined;
    });

    ctx.log.info({ origins: options.origins }, 'cors on: %d origin(s)', options.origins.length);
  },
});

const single = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value);
