import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Middleware } from 'koa';
import type { Hooks } from '../hooks.js';

const INCOMING_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Browsers can only send a websocket key in the query string; it must not reach the access log. */
const SECRET_PARAM = /([?&](?:api_key|token|key)=)[^&]*/gi;
export const loggableUrl = (url: string): string => url.replace(SECRET_PARAM, '$1[redacted]');

/**
 * First in the chain: a request id (the caller's X-Request-Id when it is sane, else a fresh one),
 * a child logger carrying it, the X-Request-Id response header, and one access log line.
 */
export function requestContext(log: Logger, hooks: Hooks): Middleware {
  return async (ctx, next) => {
    const started = performance.now();
    const incoming = ctx.get('x-request-id');
    const reqId = INCOMING_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.reqId = reqId;
    // The child logger is made on first use: most requests log one line, and at a level that is off, none.
    let child: Logger | undefined;
    Object.defineProperty(ctx.state, 'log', { get: () => (child ??= log.child({ reqId })), enumerable: true });
    ctx.set('X-Request-Id', reqId);
    try {
      await next();
    } finally {
      const durationMs = performance.now() - started;
      if (log.isLevelEnabled('info')) {
        (ctx.state.log as Logger).info(
          { method: ctx.method, url: loggableUrl(ctx.url), status: ctx.status, ms: Math.round(durationMs * 10) / 10 },
          'request',
        );
      }
      if (hooks.onResponse.isUsed()) hooks.onResponse.call(ctx, durationMs);
    }
  };
}
