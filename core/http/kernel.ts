import type { Logger } from 'pino';
import type { Middleware } from 'koa';
import { badRequest, payloadTooLarge } from '../errors.js';
import type { Hooks } from '../hooks.js';
import { keepTickShape } from '../../lib/keep-tick-shape.js';
import { mapError, unanswered } from './errors.js';
import { logAccess, requestId } from './request-context.js';
import type { RouteTable } from './routes.js';

/**
 * The whole per-request pipeline in one middleware (one async frame on every request): request id, the JSON
 * body parser when there is a body, the route, `{"error","detail"}` for every failure, then the access line
 * and onResponse (the error is mapped, status set, before the access line reads the status).
 */
export function kernel(log: Logger, hooks: Hooks, bodyLimitBytes: number, routes: RouteTable): Middleware {
  keepTickShape(); // else a few garbage collections can leave Node's nextTick slow for good: ~6 µs per request
  // application/json only (a route takes no other body: 415, unread); multipart stays unparsed so the upload plugin streams it to
  // disk with its own limits. koa-body (with zod, ~100 modules) is imported by the first request with a body, then called directly.
  let parser: Middleware | undefined, loading: Promise<Middleware> | undefined;
  const options = { json: true, jsonTypes: ['application/json'], jsonStrict: true, jsonLimit: bodyLimitBytes, multipart: false, urlencoded: false, text: false };
  const onError = (error: Error): never => {
    if ((error as { status?: number }).status === 413) throw payloadTooLarge(`the JSON body is larger than ${bodyLimitBytes} bytes`);
    throw badRequest(`malformed JSON body: ${error.message}`);
  };
  const load = () => (loading ??= import('koa-body').then(({ koaBody }) => (parser = koaBody({ ...options, onError }) as unknown as Middleware)));
  const route = routes.dispatch();
  return async (ctx) => {
    const started = performance.now();
    requestId(ctx, log);
    try {
      // Most requests are reads without a body: they skip the parser's setup, and a route that answered at once no await.
      const { 'content-length': length, 'transfer-encoding': chunked } = ctx.req.headers;
      const routed = Number(length) || chunked ? (parser ?? (await load()))(ctx, () => route(ctx) as Promise<void>) : route(ctx);
      if (routed !== undefined) await routed;
      if (ctx.body === undefined) unanswered(ctx);
    } catch (caught) {
      mapError(ctx, caught);
    } finally {
      const durationMs = performance.now() - started;
      logAccess(ctx, log, durationMs);
      if (hooks.onResponse.isUsed()) hooks.onResponse.call(ctx, durationMs);
    }
  };
}
