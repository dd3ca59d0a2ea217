import type { Logger } from 'pino';
import type { Context, Middleware } from 'koa';
import { badRequest, payloadTooLarge } from '../errors.js';
import type { Hooks } from '../hooks.js';
import { mapError, unanswered } from './errors.js';
import { logAccess, requestId } from './request-context.js';
import type { RouteTable } from './routes.js';

/**
 * The whole per-request pipeline in one middleware (one async frame on every request): request id, the JSON
 * body parser when there is a body, the route, `{"error","detail"}` for every failure, then the access line
 * and onResponse (the error is mapped, status set, before the access line reads the status).
 */
export function kernel(log: Logger, hooks: Hooks, bodyLimitBytes: number, routes: RouteTable): Middleware {
  // JSON only: multipart stays unparsed so the upload plugin streams it to disk with its own limits. koa-body
  // (with zod, ~100 modules) is imported by the first request with a body, not at start (most of a start is module loading).
  // Only application/json is parsed, the one type a route's body is taken as (koa-body's default list has four
  // more, which were parsed and then refused): any other is refused 415 without being read.
  let loading: Promise<Middleware> | undefined;
  /** The parser once loaded: every request after the first calls it without an await of its import. */
  let parser: Middleware | undefined;
  const options = { json: true, jsonTypes: ['application/json'], jsonStrict: true, jsonLimit: bodyLimitBytes, multipart: false, urlencoded: false, text: false };
  const onError = (error: Error): never => {
    if ((error as { status?: number }).status === 413) throw payloadTooLarge(`the JSON body is larger than ${bodyLimitBytes} bytes`);
    throw badRequest(`malformed JSON body: ${error.message}`);
  };
  const load = () => (loading ??= import('koa-body').then(({ koaBody }) => (parser = koaBody({ ...options, onError }) as unknown as Middleware)));
  const route = routes.dispatch();
  const withBody = (ctx: Context, use: Middleware) => use(ctx, () => route(ctx) as Promise<void>);
  return async (ctx) => {
    const started = performance.now();
    requestId(ctx, log);
    try {
      // Most requests are reads without a body: they skip the parser's setup, and a route that answered at once no await.
      const { 'content-length': length, 'transfer-encoding': chunked } = ctx.req.headers;
      const routed = Number(length) || chunked ? withBody(ctx, parser ?? (await load())) : route(ctx);
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
