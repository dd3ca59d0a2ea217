import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Context } from 'koa';

const INCOMING_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Browsers can only send a websocket key in the query string; it must not reach the access log. */
const SECRET_PARAM = /([?&](?:api_key|token|key)=)[^&]*/gi;

/** Fresh ids: a random prefix per process and a counter, unique like a UUID for finding log lines, without a draw per request. */
const PREFIX = `${randomBytes(6).toString('base64url').replace(/[^A-Za-z0-9]/g, 'x')}-`;
let counter = 0;

/** ctx.state with the request's child logger made on first use: most requests log one line, and at a level that is off, none. */
class RequestState {
  #child: Logger | undefined;
  constructor(readonly reqId: string, private readonly root: Logger) {}
  get log(): Logger {
    return (this.#child ??= this.root.child({ reqId: this.reqId }));
  }
}

/** A request id (the caller's sane X-Request-Id, else a fresh one) on ctx.state with its logger, and the response header. */
export function requestId(ctx: Context, log: Logger): void {
  const incoming = ctx.req.headers['x-request-id'];
  const reqId = typeof incoming === 'string' && INCOMING_ID.test(incoming) ? incoming : PREFIX + (++counter).toString(36);
  ctx.state = new RequestState(reqId, log);
  ctx.res.setHeader('X-Request-Id', reqId);
}

/** One access log line, skipped (and the child logger never made) when info is off. */
export function logAccess(ctx: Context, log: Logger, durationMs: number): void {
  if (!log.isLevelEnabled('info')) return;
  (ctx.state.log as Logger).info({ method: ctx.method, url: ctx.url.replace(SECRET_PARAM, '$1[redacted]'), status: ctx.status, ms: Math.round(durationMs * 10) / 10 }, 'request');
}
