import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { WebSocket, WebSocketServer } from 'ws';
import { ANONYMOUS, isAdmin, type AccessControl, type Principal } from '../../core/contracts/auth.js';
import { CLIENT_ID } from '../../core/http/schemas.js';
import { badRequest, BridgeError, forbidden, internal, notFound, tooManyRequests } from '../../core/errors.js';
import type { Hooks } from '../../core/hooks.js';

export const WS_PATH = '/ws';
const CLIENT_ID_PATTERN = new RegExp(CLIENT_ID.pattern);
const SEQ_PATTERN = /^\d{1,15}$/;

export interface UpgradeDeps {
  hooks: Hooks;
  wss: WebSocketServer;
  log: Logger;
  access: () => AccessControl | undefined;
  maxSocketsPerClient: number;
  openSockets(clientId: string): number;
  isClosing(): boolean;
  onRejected(): void;
  onAccepted(ws: WebSocket, clientId: string, since: number | undefined): void;
}

export interface AcceptedUpgrade {
  clientId: string;
  since: number | undefined;
  principal: Principal;
}

/**
 * The `upgrade` listener for the HTTP server: only /ws is ours; the caller is authenticated by the
 * same hook as HTTP requests, and every refusal is a plain HTTP response with the JSON error body
 * (SPEC §1) before the socket is closed — a websocket client sees the status, curl sees the body.
 */
export function upgradeListener(deps: UpgradeDeps) {
  return (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // Errors on a socket we have not handed to ws yet would otherwise be unhandled.
    socket.on('error', (error) => deps.log.debug({ err: error }, 'upgrade socket error'));
    void accept(deps, request)
      .then(({ clientId, since }) => {
        if (socket.destroyed) return;
        deps.wss.handleUpgrade(request, socket, head, (ws) => deps.onAccepted(ws, clientId, since));
      })
      .catch((error: unknown) => {
        const refusal = error instanceof BridgeError ? error : internal('internal server error', { cause: error });
        if (refusal.status >= 500) deps.log.error({ err: error }, 'websocket upgrade failed');
        else deps.log.debug({ code: refusal.code, detail: refusal.detail }, 'websocket upgrade refused');
        deps.onRejected();
        refuse(socket, refusal);
      });
  };
}

async function accept(deps: UpgradeDeps, request: IncomingMessage): Promise<AcceptedUpgrade> {
  const url = new URL(request.url ?? '/', 'http://bridge.invalid');
  if (url.pathname !== WS_PATH) throw notFound(`no websocket endpoint at ${url.pathname}`);
  if (deps.isClosing()) throw new BridgeError(503, 'unavailable', 'the server is shutting down', { headers: { 'Retry-After': '5' } });

  const query = queryObject(url.searchParams);
  const authenticated = await deps.hooks.authenticate.promise({ method: request.method ?? 'GET', path: url.pathname, headers: request.headers, query });
  const principal = authenticated ?? ANONYMOUS;
  if (!isAdmin(principal) && !principal.scopes.includes('client')) throw forbidden('this endpoint needs the client scope');

  const clientId = query.clientId;
  if (typeof clientId !== 'string' || !CLIENT_ID_PATTERN.test(clientId)) {
    throw badRequest('clientId is required in the query: 1–128 characters of [A-Za-z0-9._:-] (e.g. /ws?clientId=<uuid>)');
  }
  const rawSince = query.since;
  if (rawSince !== undefined && (typeof rawSince !== 'string' || !SEQ_PATTERN.test(rawSince))) {
    throw badRequest('since must be the seq of the last frame received (a non-negative integer)');
  }
  await deps.access()?.claimClient(clientId, principal);
  if (deps.openSockets(clientId) >= deps.maxSocketsPerClient) {
    throw tooManyRequests(`clientId ${clientId} already has ${deps.maxSocketsPerClient} sockets open`, { headers: { 'Retry-After': '5' } });
  }
  return { clientId, since: rawSince === undefined ? undefined : Number(rawSince), principal };
}

function queryObject(params: URLSearchParams): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const [key, value] of params) {
    const existing = query[key];
    query[key] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return query;
}

/** An HTTP error response on the raw socket, then close it once written. */
export function refuse(socket: Duplex, error: BridgeError): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ error: error.code, detail: error.expose ? error.detail : 'internal server error', ...(error.expose ? error.extra : {}) });
  const headers: Record<string, string | number> = {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    Connection: 'close',
    ...error.headers,
  };
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}\r\n${head.join('\r\n')}\r\n\r\n${body}`);
  // A peer that never reads must not keep the socket (and its buffer) forever.
  setTimeout(() => socket.destroy(), 5000).unref();
}
