import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { pyDumps, type PyValue } from './py-json.js';

export const SERVER_FEATURES = { supports_preview_metadata: true, max_upload_size: 104857600 };

/**
 * The /ws side of PromptServer: one socket per sid (= clientId). Quirks kept on purpose:
 * - a second socket with the same clientId replaces the first in the table; the first stays open
 *   but receives nothing more;
 * - when ANY socket of a sid closes, the sid is removed from the table (the real `finally:
 *   self.sockets.pop(sid)`), so closing the replaced socket also silences the newer one;
 * - only a connection's first message may be feature_flags (later ones are ignored).
 */
export class WsHub {
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly sockets = new Map<string, WebSocket>();
  private readonly all = new Set<WebSocket>();
  /** goSilent: sockets stay open but no frame is sent. */
  silent = false;
  /**
   * Opt-in (benchmarks): told of each JSON message just after it was handed to a socket, with the time of
   * that hand-over (epoch ms), so a bench can time what the bridge did from it. Changes nothing sent.
   */
  onSent: ((event: string, data: PyValue, sid: string | null, at: number) => void) | undefined;

  constructor(private readonly onConnect: (sid: string, clientId: string | null) => void) {}

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const clientId = url.searchParams.get('clientId');
      const sid = clientId || randomUUID().replace(/-/g, '');
      this.sockets.set(sid, ws);
      this.all.add(ws);
      let first = true;
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        try {
          const msg = JSON.parse(data.toString()) as { type?: unknown };
          if (first && msg?.type === 'feature_flags') this.send('feature_flags', SERVER_FEATURES, sid);
        } catch {
          // the real server logs and ignores undecodable text
        }
        first = false;
      });
      ws.on('close', () => {
        this.all.delete(ws);
        this.sockets.delete(sid);
      });
      ws.on('error', () => undefined);
      this.onConnect(sid, clientId);
    });
  }

  /** send_sync(event, data, sid): to that sid only, or to every socket when sid is null. */
  send(event: string, data: PyValue, sid: string | null): void {
    if (this.silent) return;
    const text = pyDumps({ type: event, data });
    if (sid === null) {
      for (const ws of this.sockets.values()) if (ws.readyState === ws.OPEN) ws.send(text);
    } else {
      const ws = this.sockets.get(sid);
      if (!ws || ws.readyState !== ws.OPEN) return;
      ws.send(text);
    }
    this.onSent?.(event, data, sid, performance.timeOrigin + performance.now());
  }

  /** send_progress_text: binary frame [u32be 3][u32be len(node)][node][text], to everyone when sid is null. */
  sendProgressText(text: string, nodeId: string, sid: string | null): void {
    if (this.silent) return;
    const node = Buffer.from(nodeId, 'utf8');
    const head = Buffer.alloc(8);
    head.writeUInt32BE(3, 0);
    head.writeUInt32BE(node.length, 4);
    const frame = Buffer.concat([head, node, Buffer.from(text, 'utf8')]);
    const targets = sid === null ? [...this.sockets.values()] : [this.sockets.get(sid)].filter((w): w is WebSocket => w !== undefined);
    for (const ws of targets) if (ws.readyState === ws.OPEN) ws.send(frame, { binary: true });
  }

  /** Abruptly drops every connection (no close frame), like a network cut. */
  dropAll(): void {
    for (const ws of this.all) ws.terminate();
  }

  /** Closes every connection (server shutting down). */
  closeAll(): void {
    for (const ws of this.all) ws.terminate();
    this.all.clear();
    this.sockets.clear();
  }

  get count(): number {
    return this.sockets.size;
  }
}
