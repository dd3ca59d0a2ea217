import { WebSocket } from 'ws';
import type { FakeComfy } from '../index.js';

/** A small ComfyUI websocket + HTTP client for the fake's own tests. */

export interface WsMessage {
  type: string;
  data: Record<string, unknown>;
}

export interface TestSocket {
  ws: WebSocket;
  messages: WsMessage[];
  binary: Buffer[];
  waitFor(pred: (m: WsMessage) => boolean, timeoutMs?: number): Promise<WsMessage>;
  close(): Promise<void>;
}

export async function connect(fake: FakeComfy, clientId?: string): Promise<TestSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${fake.port}/ws${clientId ? `?clientId=${clientId}` : ''}`);
  const messages: WsMessage[] = [];
  const binary: Buffer[] = [];
  const listeners = new Set<() => void>();
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) binary.push(data);
    else messages.push(JSON.parse(data.toString('utf8')) as WsMessage);
    for (const l of listeners) l();
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    messages,
    binary,
    waitFor(pred, timeoutMs = 3000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const hit = messages.find(pred);
          if (!hit) return false;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(hit);
          return true;
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`no matching message; got ${messages.map((m) => m.type).join(',')}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    async close() {
      if (ws.readyState === ws.CLOSED) return;
      const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
      ws.close();
      await closed;
    },
  };
}

export async function postJson(fake: FakeComfy, path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(fake.url + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

export async function getJson<T = Record<string, unknown>>(fake: FakeComfy, path: string): Promise<T> {
  const res = await fetch(fake.url + path);
  return (await res.json()) as T;
}

export const finished = (promptId: string) => (m: WsMessage): boolean => m.type === 'executing' && m.data.node === null && m.data.prompt_id === promptId;

export function saveGraph(opts: { width?: number; height?: number; color?: number; prefix?: string; batch?: number } = {}): Record<string, unknown> {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: opts.width ?? 16, height: opts.height ?? 12, batch_size: opts.batch ?? 1, color: opts.color ?? 0xff0000 } },
    '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: opts.prefix ?? 'test' } },
  };
}
