import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ServerConfig } from '../../core/config/schema.js';

export type ServerLimits = Pick<ServerConfig, 'headersTimeoutMs' | 'requestTimeoutMs' | 'minUploadBytesPerSecond' | 'uploadRateWindowMs' | 'maxConnections'>;

/** Uploads stream for as long as they keep moving; everything else must arrive whole in time. */
const isUpload = (request: IncomingMessage): boolean => /^multipart\//i.test(request.headers['content-type'] ?? '');

/**
 * The limits that keep slow or idle clients from holding sockets (and the files of their uploads):
 * - headers must arrive within headersTimeoutMs (Node's own check, answered 408 by Node);
 * - a request that is not an upload must have sent its whole body within requestTimeoutMs;
 * - an upload must keep up minUploadBytesPerSecond over every uploadRateWindowMs (a 1 byte/s trickle
 *   is cut after one window), instead of one deadline that a large upload on a slow line could miss;
 * - at most maxConnections sockets; one warning when the cap is reached (and one per minute while it holds).
 * A request cut in its body gets a 408 JSON answer when nothing was sent yet, then its socket is closed.
 * Applied before the server listens: Node starts its connection checks at listen.
 */
export function applyServerLimits(server: Server, limits: ServerLimits, log: Logger): void {
  server.headersTimeout = limits.headersTimeoutMs;
  // How often Node looks for requests past headersTimeout: its default (30 s) would let a slow-headers
  // client stay up to 30 s past the limit. (A public field Node reads at listen; @types/node omits it.)
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.max(10, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4)));
  // Node's requestTimeout covers uploads too (a 60 MiB upload on a slow line is not an attack); the
  // per-kind checks below replace it.
  server.requestTimeout = 0;
  if (limits.maxConnections > 0) {
    server.maxConnections = limits.maxConnections;
    let lastWarning = 0;
    let dropped = 0;
    server.on('drop', () => {
      dropped++;
      const now = Date.now();
      if (now - lastWarning < 60_000) return;
      lastWarning = now;
      log.warn(
        { maxConnections: limits.maxConnections, droppedSinceLastWarning: dropped },
        'connection cap reached: server.maxConnections (%d) sockets are open, new connections are refused until some close',
        limits.maxConnections,
      );
      dropped = 0;
    });
  }
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    // Without Content-Length or Transfer-Encoding there is no body to wait for (a GET): nothing to watch.
    if (request.complete || (!request.headers['content-length'] && !request.headers['transfer-encoding'])) return;
    if (isUpload(request)) watchRate(request, response, limits, log);
    else watchDeadline(request, response, limits.requestTimeoutMs, log);
  });
}

function watchDeadline(request: IncomingMessage, response: ServerResponse, ms: number, log: Logger): void {
  if (ms <= 0) return;
  const timer = setTimeout(() => {
    if (request.complete || response.writableEnded) return;
    log.info({ method: request.method, url: request.url, timeoutMs: ms }, 'request cut: its body did not arrive within server.requestTimeoutMs');
    cut(request, response, `the request body did not arrive within ${ms} ms`);
  }, ms);
  timer.unref();
  const stop = (): void => clearTimeout(timer);
  request.once('end', stop);
  request.once('close', stop);
  response.once('finish', stop);
}

function watchRate(request: IncomingMessage, response: ServerResponse, limits: ServerLimits, log: Logger): void {
  const { minUploadBytesPerSecond: rate, uploadRateWindowMs: windowMs } = limits;
  if (rate <= 0) return;
  const socket = request.socket;
  let mark = socket.bytesRead;
  const needed = Math.ceil((rate * windowMs) / 1000);
  const timer = setInterval(() => {
    if (request.complete || response.writableEnded) return stop();
    const moved = socket.bytesRead - mark;
    mark = socket.bytesRead;
    // A paused request is us not reading (the receiver waits for its disk), not the client being slow.
    if (request.isPaused() || moved >= needed) return;
    stop();
    log.info({ url: request.url, bytes: moved, windowMs, minBytesPerSecond: rate }, 'upload cut: slower than server.minUploadBytesPerSecond');
    cut(request, response, `the upload sent ${moved} bytes in ${windowMs} ms, slower than the minimum of ${rate} bytes per second`);
  }, windowMs);
  timer.unref();
  function stop(): void {
    clearInterval(timer);
  }
  request.once('close', stop);
  response.once('finish', stop);
}

/**
 * 408 with the JSON error body when no answer was started, then the request is destroyed (which
 * closes its socket). Destroying the request, not just the socket, matters: once a response has
 * finished, Node no longer emits 'close' on its request when the socket goes, and whoever reads the
 * body (the upload receiver) would wait forever with its file open.
 */
function cut(request: IncomingMessage, response: ServerResponse, detail: string): void {
  if (!response.headersSent) {
    const body = JSON.stringify({ error: 'request_timeout', detail });
    response.writeHead(408, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
    response.end(body, () => request.destroy());
    // A peer that does not read must not keep the socket through our answer.
    setTimeout(() => request.destroy(), 1000).unref();
  } else {
    request.destroy();
  }
}
