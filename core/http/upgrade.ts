import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { BridgeError, internal, isBridgeError, notFound } from '../errors.js';
import type { UpgradeRequest, WebSocketRouteDefinition } from '../plugin.js';
import type { AuthRequest, Principal } from './principal.js';
import type { Admission } from './routes.js';

type Admit = (admission: Admission, request: AuthRequest) => Promise<{ principal: Principal; query: Record<string, unknown> }>;

interface Mounted {
  definition: WebSocketRouteDefinition;
  admission: Admission;
  server: WebSocketServer;
}

/**
 * The websocket routes and the server's `upgrade` listener: the path picks the route, which admits the caller
 * like an HTTP route, then `accept` and `open` run. A refusal is an HTTP answer with the JSON error body on
 * the raw socket, before any upgrade (a websocket client sees the status, curl the body).
 */
export class WebSocketRoutes {
  readonly #routes = new Map<string, Mounted>();

  constructor(private readonly admit: Admit) {}

  get size(): number {
    return this.#routes.size;
  }

  add(definition: WebSocketRouteDefinition, admission: Admission): void {
    // No compression (it costs CPU per socket and invites zip bombs); sockets are the plugin's to track.
    const server = new WebSocketServer({ noServer: true, maxPayload: definition.maxPayload, perMessageDeflate: false, clientTracking: false });
    this.#routes.set(definition.path, { definition, admission, server });
  }

  /** The `upgrade` listener; `closing()` refuses new sockets once shutdown began. */
  listener(log: Logger, closing: () => boolean) {
    return (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
      // Errors on a socket not handed to ws yet would otherwise be unhandled.
      socket.on('error', (error) => log.debug({ err: error }, 'upgrade socket error'));
      const url = new URL(request.url ?? '/', 'http://bridge.invalid');
      const route = this.#routes.get(url.pathname);
      void this.#accept(route, url, request, closing)
        .then((upgrade) => {
          if (socket.destroyed) return;
          route!.server.handleUpgrade(request, socket, head, (ws) => route!.definition.open(ws, upgrade));
        })
        .catch((error: unknown) => {
          const refusal = isBridgeError(error) ? error : internal('internal server error', { cause: error });
          if (refusal.status >= 500) log.error({ err: error }, 'websocket upgrade failed');
          else log.debug({ code: refusal.code, detail: refusal.detail }, 'websocket upgrade refused');
          route?.definition.refused?.(refusal);
          refuse(socket, refusal);
        });
    };
  }

  close(): void {
    for (const { server } of this.#routes.values()) server.close();
  }

  async #accept(route: Mounted | undefined, url: URL, request: IncomingMessage, closing: () => boolean): Promise<UpgradeRequest> {
    if (!route) throw notFound(`no websocket endpoint at ${url.pathname}`);
    if (closing()) throw new BridgeError(503, 'unavailable', 'the server is shutting down', { headers: { 'Retry-After': '5' } });
    const { principal, query } = await this.admit(route.admission, {
      method: request.method ?? 'GET',
      path: url.pathname,
      headers: request.headers,
      query: queryObject(url.searchParams),
    });
    const upgrade: UpgradeRequest = { principal, query, request };
    await route.definition.accept?.(upgrade);
    return upgrade;
  }
}

/** Koa's shape of a query: a repeated key becomes an array. */
function queryObject(params: URLSearchParams): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const key of new Set(params.keys())) query[key] = params.getAll(key).length > 1 ? params.getAll(key) : params.get(key)!;
  return query;
}

/** An HTTP error response on the raw socket, then close it once written. */
function refuse(socket: Duplex, error: BridgeError): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ error: error.code, detail: error.expose ? error.detail : 'internal server error', ...(error.expose ? error.extra : {}) });
  const headers = { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close', ...error.headers };
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}\r\n${head.join('\r\n')}\r\n\r\n${body}`);
  // A peer that never reads must not keep the socket (and its buffer) forever.
  setTimeout(() => socket.destroy(), 5000).unref();
}
