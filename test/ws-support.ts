import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import type { WsStats } from '../plugins/ws/api.js';
import { definePlugin, type PluginManifest } from '../core/plugin.js';
import { until } from './helpers/until.js';

/** A fixture plugin that hands the `wsStats` service to the test. */
export function grabWsStats(into: { stats?: WsStats }): PluginManifest<never> {
  return definePlugin({
    name: 'grab-ws-stats',
    dependencies: ['wsStats'],
    register(ctx) {
      into.stats = ctx.use('wsStats');
    },
  }) as PluginManifest<never>;
}

/**
 * A websocket peer at the TCP level that completes the handshake and then never reads again (and
 * so never answers pings): the slow or dead consumer a real network produces.
 */
export async function stalledSocket(port: number, path: string): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  const head = await new Promise<string>((resolve, reject) => {
    let got = '';
    const onData = (chunk: Buffer) => {
      got += chunk.toString('latin1');
      if (!got.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      socket.pause();
      resolve(got);
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`closed during the handshake: ${got}`)));
  });
  if (!head.startsWith('HTTP/1.1 101')) throw new Error(`handshake refused: ${head}`);
  return socket;
}

/** Resumes reading a stalled socket and resolves once the server has closed it. */
export function drainUntilClosed(socket: Socket, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const timer = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms (${bytes} bytes read)`)), timeoutMs);
    socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(bytes);
    });
    socket.resume();
  });
}

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it is true or the time is up. */
export async function eventually(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  await until(check, what, timeoutMs);
}
