/**
 * HTTP calls to one ComfyUI backend with Node's fetch. Only the headers set here are sent: never an
 * Origin (ComfyUI answers 403 to a mismatched one) and never anything forwarded from a client.
 */

/** The backend could not be reached or did not answer in time (as opposed to answering an error). */
export class UnreachableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnreachableError';
  }
}

export interface JsonResponse {
  status: number;
  /** Parsed JSON, or undefined when the body is empty or not JSON (ComfyUI answers some errors as text). */
  body: unknown;
}

function reason(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? error.cause.message : '';
    if (error.name === 'TimeoutError') return 'timed out';
    return cause ? `${error.message}: ${cause}` : error.message;
  }
  return String(error);
}

export class BackendHttp {
  readonly #base: string;

  constructor(
    baseUrl: string,
    readonly timeoutMs: number,
    private readonly closing: AbortSignal,
  ) {
    this.#base = baseUrl.replace(/\/+$/, '');
  }

  url(path: string, query?: Record<string, string>): string {
    const search = query ? `?${new URLSearchParams(query).toString()}` : '';
    return `${this.#base}${path}${search}`;
  }

  /** A request answered with JSON, bounded by the request timeout (body included). */
  async json(method: 'GET' | 'POST', path: string, body?: unknown): Promise<JsonResponse> {
    const init: RequestInit = { method, signal: AbortSignal.any([this.closing, AbortSignal.timeout(this.timeoutMs)]) };
    if (body instanceof FormData) {
      init.body = body; // fetch sets the multipart boundary itself
    } else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'content-type': 'application/json' };
    }
    const url = this.url(path);
    try {
      const res = await fetch(url, init);
      const text = await res.text();
      let parsed: unknown;
      if (text.length > 0) {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
      }
      return { status: res.status, body: parsed };
    } catch (error) {
      throw new UnreachableError(`${method} ${url} failed: ${reason(error)}`, { cause: error });
    }
  }

  /**
   * A request whose answer may be large (a file): the timeout covers only the wait for the response
   * headers, so a slow but steady body is not cut off.
   */
  async open(path: string, query: Record<string, string>, init: RequestInit = {}): Promise<Response> {
    const headersTimeout = new AbortController();
    const timer = setTimeout(() => headersTimeout.abort(new DOMException('timed out', 'TimeoutError')), this.timeoutMs);
    const url = this.url(path, query);
    try {
      return await fetch(url, { ...init, signal: AbortSignal.any([this.closing, headersTimeout.signal]) });
    } catch (error) {
      throw new UnreachableError(`${init.method ?? 'GET'} ${url} failed: ${reason(error)}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }
}
