/**
 * The one error type: a stable snake_case `code`, an HTTP `status` and a human `detail`, answered as
 * `{"error": code, "detail": detail}`. Wrap low-level causes (`cause`) so logs keep the chain while clients see
 * the sentence; `headers` go with the answer (Retry-After), `extra` are more JSON keys (never internals).
 */
export interface BridgeErrorOptions {
  cause?: unknown;
  headers?: Record<string, string>;
  extra?: Record<string, unknown>;
}

const BRAND = Symbol.for('comfy-bridge.BridgeError');

export class BridgeError extends Error {
  readonly [BRAND] = true; // survives two copies of this module (a plugin loaded through another loader)
  readonly headers: Record<string, string>;
  readonly extra: Record<string, unknown>;

  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    options: BridgeErrorOptions = {},
  ) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BridgeError';
    this.headers = options.headers ?? {};
    this.extra = options.extra ?? {};
  }

  get expose(): boolean {
    return this.status < 500;
  }
}

export const isBridgeError = (value: unknown): value is BridgeError =>
  typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;

type Make = (detail: string, options?: BridgeErrorOptions) => BridgeError;
const make =
  (status: number, code: string): Make =>
  (detail, options) =>
    new BridgeError(status, code, detail, options);

export const badRequest = make(400, 'bad_request');
export const unauthorized = make(401, 'unauthorized');
export const forbidden = make(403, 'forbidden');
export const notFound = make(404, 'not_found');
export const conflict = make(409, 'conflict');
export const payloadTooLarge = make(413, 'payload_too_large');
export const unsupportedMediaType = make(415, 'unsupported_media_type');
export const tooManyRequests = make(429, 'too_many_requests');
export const internal = make(500, 'internal');

/** A programmer or operator mistake found at boot (bad manifest, bad config, cycle). */
export class BootError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BootError';
  }
}
