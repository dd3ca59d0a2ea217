/**
 * HTTP calls to one ComfyUI backend. Only the headers set here are sent: never an Origin (ComfyUI
 * answers 403 to a mismatched one) and never anything forwarded from a client.
 */
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { markLife } from '../../contracts/life-marks.js';

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
    if (error.name === 'BackendFrozenError') return error.message;
    return cause ? `${error.message}: ${cause}` : error.message;
  }
  return String(error);
}

function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A response whose body is read as a stream (IncomingMessage: destroy it to stop reading). */
export interface StreamedResponse {
  status: number;
  header(name: string): string | undefined;
  body: IncomingMessage;
}

/** `?a=b&…` for a query ('' for none). */
const searchOf = (query: Record<string, string> | undefined): string => (query ? `?${new URLSearchParams(query).toString()}` : '');

const headerValue = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value.join(', ') : value);

const timedOut = (): Error => Object.assign(new Error('timed out'), { name: 'TimeoutError' });

/** Reset on a kept-alive socket before any answer: the backend had closed it as idle, so nothing was processed. */
export const staleSocket = (error: unknown): boolean =>
  error instanceof Error && (error as { reusedSocket?: boolean }).reusedSocket === true && ['ECONNRESET', 'EPIPE'].includes((error as NodeJS.ErrnoException).code ?? '');

export class BackendHttp {
  readonly #base: string;
  readonly #https: boolean;
  /** Kept-alive connections: a submission must not pay a TCP handshake (nor fetch's per-call machinery). */
  readonly #agent: HttpAgent;
  /** Requests waiting for their response headers: abandoned at once when the backend is found frozen. */
  readonly #waiting = new Set<ClientRequest>();
  /**
   * The base URL as request options, parsed once: a request given a URL string has node parse it again
   * (new URL, urlToHttpOptions) on every call, a visible share of a submission's and a copy's CPU.
   */
  readonly #target: { protocol: string; hostname: string; port: string; auth?: string; basePath: string };

  constructor(
    baseUrl: string,
    readonly timeoutMs: number,
    private readonly closing: AbortSignal,
  ) {
    this.#base = baseUrl.replace(/\/+$/, '');
    this.#https = this.#base.startsWith('https:');
    this.#agent = this.#https ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
    const parsed = new URL(this.#base);
    this.#target = {
      protocol: parsed.protocol,
      // An IPv6 literal without its brackets, as node's own urlToHttpOptions gives it.
      hostname: parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname,
      port: parsed.port,
      ...(parsed.username || parsed.password ? { auth: `${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}` } : {}),
      basePath: parsed.pathname.replace(/\/+$/, ''),
    };
    if (closing.aborted) this.#agent.destroy();
    else closing.addEventListener('abort', () => this.#agent.destroy(), { once: true });
  }

  /**
   * The backend stopped answering (its socket went silent): requests still waiting fail now instead
   * of at their own deadline, so a caller hears 503 within the silence deadline.
   */
  abandonWaiting(why: string): void {
    for (const req of this.#waiting) req.destroy(Object.assign(new Error(why), { name: 'BackendFrozenError' }));
    this.#waiting.clear();
  }

  url(path: string, query?: Record<string, string>): string {
    return `${this.#base}${path}${searchOf(query)}`;
  }

  /** Request options for `path` (with its query) on this backend, without parsing a URL. */
  #options(method: string, pathAndSearch: string, headers?: Record<string, string | number>): RequestOptions {
    const { protocol, hostname, port, auth, basePath } = this.#target;
    return { protocol, hostname, port, auth, path: `${basePath}${pathAndSearch}`, method, headers, agent: this.#agent };
  }

  /** A request answered with JSON, bounded by the request timeout (body included). */
  async json(method: 'GET' | 'POST', path: string, body?: unknown): Promise<JsonResponse> {
    const url = this.url(path);
    try {
      if (body instanceof FormData) return await this.#form(method, url, body);
      return await this.#send(method, path, body === undefined ? undefined : JSON.stringify(body));
    } catch (error) {
      throw new UnreachableError(`${method} ${url} failed: ${reason(error)}`, { cause: error });
    }
  }

  /**
   * node:http rather than fetch: several times less CPU per call, which a submission makes at least one of.
   * A GET sent on a kept-alive socket the backend closed at that moment (its idle timeout; a busy
   * machine makes the race likely) fails with nothing read: it is sent once more on a new socket.
   */
  async #send(method: string, path: string, payload: string | undefined): Promise<JsonResponse> {
    try {
      return await this.#sendOnce(method, path, payload);
    } catch (error) {
      if (method !== 'GET' || !staleSocket(error)) throw error;
      return this.#sendOnce(method, path, payload);
    }
  }

  #sendOnce(method: string, path: string, payload: string | undefined): Promise<JsonResponse> {
    const headers: Record<string, string | number> = payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
    // No per-request abort listener on `closing` (hundreds would be in flight): closing destroys the
    // agent, and with it every socket a request is using.
    if (this.closing.aborted) return Promise.reject(new DOMException('the bridge is closing', 'AbortError'));
    return new Promise<JsonResponse>((resolve, reject) => {
      const send = this.#https ? httpsRequest : httpRequest;
      const req = send(this.#options(method, path, headers), (res: IncomingMessage) => {
        waiting.delete(req);
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.once('error', fail);
        res.once('end', () => {
          clearTimeout(timer);
          markLife('http: body read', path);
          resolve({ status: res.statusCode ?? 0, body: parseJson(Buffer.concat(chunks).toString('utf8')) });
        });
      });
      const timer = setTimeout(() => req.destroy(timedOut()), this.timeoutMs);
      const waiting = this.#waiting;
      waiting.add(req);
      function fail(error: Error): void {
        clearTimeout(timer);
        waiting.delete(req);
        reject(req.reusedSocket ? Object.assign(error, { reusedSocket: true }) : error);
      }
      req.once('error', fail);
      req.end(payload);
      markLife('http: ended', path);
    });
  }

  /** Multipart bodies (image uploads) stay on fetch, which builds them. */
  async #form(method: string, url: string, body: FormData): Promise<JsonResponse> {
    const res = await fetch(url, { method, body, signal: AbortSignal.any([this.closing, AbortSignal.timeout(this.timeoutMs)]) });
    return { status: res.status, body: parseJson(await res.text()) };
  }

  /**
   * A GET whose answer may be large (a file), as a stream: the timeout covers only the wait for the
   * response headers, so a slow but steady body is not cut off.
   */
  async open(path: string, query: Record<string, string>): Promise<StreamedResponse> {
    const pathAndSearch = `${path}${searchOf(query)}`;
    const failed = (error: unknown) => new UnreachableError(`GET ${this.#base}${pathAndSearch} failed: ${reason(error)}`, { cause: error });
    if (this.closing.aborted) throw failed(new DOMException('the bridge is closing', 'AbortError'));
    try {
      return await this.#openOnce(pathAndSearch);
    } catch (error) {
      // The same stale kept-alive socket as in #send: once more on a new one.
      if (!staleSocket(error)) throw failed(error);
      return this.#openOnce(pathAndSearch).catch((again: unknown) => Promise.reject(failed(again)));
    }
  }

  #openOnce(pathAndSearch: string): Promise<StreamedResponse> {
    return new Promise<StreamedResponse>((resolve, reject) => {
      const send = this.#https ? httpsRequest : httpRequest;
      const req = send(this.#options('GET', pathAndSearch), (res: IncomingMessage) => {
        clearTimeout(timer);
        waiting.delete(req);
        req.off('error', fail);
        resolve({ status: res.statusCode ?? 0, header: (name) => headerValue(res.headers[name.toLowerCase()]), body: res });
      });
      const timer = setTimeout(() => req.destroy(timedOut()), this.timeoutMs);
      const waiting = this.#waiting;
      waiting.add(req);
      function fail(error: Error): void {
        clearTimeout(timer);
        waiting.delete(req);
        reject(req.reusedSocket ? Object.assign(error, { reusedSocket: true }) : error);
      }
      req.once('error', fail);
      req.end();
      markLife('http: ended', pathAndSearch);
    });
  }
}
