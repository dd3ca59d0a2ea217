import { ServerResponse, type IncomingMessage, type RequestListener } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';

/** An upgrade request's raw socket and first bytes, until its websocket route takes them. */
export const pendingUpgrades = new WeakMap<IncomingMessage, { socket: Socket; head: Buffer }>();

/**
 * The server's `upgrade` listener: an upgrade goes through the Koa pipeline like any request (request id,
 * authentication, scope, query validation, `{"error","detail"}` refusals, access log). A websocket route takes
 * the socket; any other answer is written on the raw socket, which then closes (a websocket client sees the
 * status, curl the body).
 */
export function upgradeListener(handle: RequestListener, log: Logger) {
  return (request: IncomingMessage, socket: Socket, head: Buffer): void => {
    // Errors on a socket not handed to ws yet would otherwise be unhandled.
    socket.on('error', (error) => log.debug({ err: error }, 'upgrade socket error'));
    pendingUpgrades.set(request, { socket, head });
    const response = new ServerResponse(request);
    response.assignSocket(socket);
    response.shouldKeepAlive = false;
    response.once('finish', () => socket.destroySoon());
    // A peer that never reads must not keep the socket (and its buffer) forever.
    response.once('prefinish', () => setTimeout(() => socket.destroy(), 5000).unref());
    handle(request, response);
  };
}
