import type { StatusFrame } from './types.js';

/** A refused request: the bridge's `{"error", "detail"}` body and the HTTP status (0 when the network failed). */
export class BridgeApiError extends Error {
  override readonly name = 'BridgeApiError';

  constructor(
    readonly status: number,
    /** The stable snake_case code, e.g. "bad_request", "not_found", "too_many_requests". */
    readonly error: string,
    /** The server's sentence (what to fix). */
    readonly detail: string,
    /** X-Request-Id of the answer: quote it when you report a problem. */
    readonly requestId?: string,
    /** Seconds to wait before retrying, from Retry-After (429, 503). */
    readonly retryAfter?: number,
  ) {
    super(`${status} ${error}: ${detail}`);
  }
}

/** A generation that ended without results: failed, or interrupted. `frame` is its final status frame. */
export class GenerationFailedError extends Error {
  override readonly name = 'GenerationFailedError';

  constructor(readonly frame: Pick<StatusFrame, 'details'> & { data: { id: string; state: string } }) {
    super(`generation ${frame.data.id} ${frame.data.state}: ${frame.details}`);
  }
}

/** follow() gave up reconnecting. */
export class ConnectionLostError extends Error {
  override readonly name = 'ConnectionLostError';
}
