import type { Logger } from 'pino';
import type { Context } from 'koa';
import { BridgeError, internal, isBridgeError } from '../errors.js';

const CODES: Record<number, string> = { 404: 'not_found', 405: 'method_not_allowed', 413: 'payload_too_large', 415: 'unsupported_media_type' };

/** Errors thrown by Koa itself or its libraries carry `status` / `expose`; keep their status, drop internals. */
export function toBridgeError(error: unknown): BridgeError {
  if (isBridgeError(error)) return error;
  const e = error as { status?: number; statusCode?: number; expose?: boolean; message?: string };
  const status = e.status ?? e.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new BridgeError(status, CODES[status] ?? 'bad_request', e.expose && e.message ? e.message : 'the request could not be processed', { cause: error });
  }
  return internal('internal server error', { cause: error });
}

/** The router's bare answers (no route, a method the path does not take, a method nobody takes) as errors. */
export function unanswered(ctx: Context): void {
  if (ctx.status === 404) throw new BridgeError(404, 'not_found', `no route for ${ctx.method} ${ctx.path}`);
  const allow = ctx.response.get('Allow');
  if (ctx.status === 405) throw new BridgeError(405, 'method_not_allowed', `${ctx.path} does not take ${ctx.method}; it takes ${allow}`, { headers: { Allow: allow } });
  if (ctx.status === 501) throw new BridgeError(501, 'not_implemented', `no route takes the method ${ctx.method}`);
}

/**
 * Expected failures are not bugs: a BridgeError 5xx (ComfyUI down → 503, storage full → 503, a backend that
 * answered nonsense → 502) is logged at warn with its code and detail, no stack; a client's 4xx at debug.
 * Only an unexpected exception (our bug) is logged at error with its stack.
 */
function logRefusal(log: Logger, error: BridgeError, caught: unknown): void {
  // 501 is the router's "no route takes this method": the client's doing, like a 404.
  const ours = error.status >= 500 && error.status !== 501;
  if (!isBridgeError(caught) && ours) log.error({ err: caught }, 'request failed');
  else if (ours) log.warn({ status: error.status, code: error.code, detail: error.detail, cause: causeText(error) }, 'request failed');
  else log.debug({ status: error.status, code: error.code, detail: error.detail }, 'request refused');
}

const causeText = ({ cause }: BridgeError): string | undefined => (cause instanceof Error ? `${cause.name}: ${cause.message}` : undefined);

/** Turns a failure into `{"error", "detail"}` on the response; 5xx causes are logged, never sent. */
export function mapError(ctx: Context, caught: unknown): void {
  const error = toBridgeError(caught);
  logRefusal(ctx.state.log as Logger, error, caught);
  ctx.status = error.status;
  ctx.set(error.headers);
  ctx.body = { error: error.code, detail: error.detail, ...error.extra };
}
