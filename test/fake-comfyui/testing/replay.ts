import { WebSocket } from 'ws';
import type { FakeComfy } from '../index.js';
import type { Capture, CapturedFrame, CapturedRequest, CapturedResponse, TimelineEvent } from './capture.js';

/**
 * Replays a capture's timeline against the fake: the same sockets, the same requests in the same
 * order. Before each step it waits until every socket has received as many frames as the real
 * client had at that point, so interrupts and reconnects land at the same place in the run.
 * Runs of progress_state+progress pairs count as one (the real TestSleep reports every 10 ms).
 */

export interface ReceivedFrame {
  type: string;
  raw: string | null;
  json: { type: string; data: unknown } | null;
  binary: Buffer | null;
}

export interface HttpExchange {
  label: string | undefined;
  request: CapturedRequest;
  expected: CapturedResponse;
  status: number;
  headers: Headers;
  body: Buffer;
}

export interface ReplayResult {
  frames: Map<string, ReceivedFrame[]>;
  http: HttpExchange[];
}

export interface ReplayOptions {
  /** capture prompt_id → fake prompt_id, shared across replays on one fake (preludes). */
  idMap: Map<string, string>;
  /** bytes for a multipart file field, by request label */
  uploadBytes?: (label: string | undefined, field: { filename?: string; content_type?: string }) => Buffer;
  timeoutMs?: number;
}

export function frameType(f: CapturedFrame | ReceivedFrame): string {
  if ('frame' in f) return f.frame === 'binary' ? 'binary' : f.json.type;
  return f.type;
}

/** Collapses repeated progress_state+progress pairs (time-driven in the real server) to one. */
export function collapse<T>(frames: T[], typeOf: (f: T) => string): T[] {
  const out: T[] = [];
  for (const f of frames) {
    out.push(f);
    const n = out.length;
    if (
      n >= 4 &&
      typeOf(out[n - 1]) === 'progress' && typeOf(out[n - 2]) === 'progress_state' &&
      typeOf(out[n - 3]) === 'progress' && typeOf(out[n - 4]) === 'progress_state'
    ) out.splice(n - 2, 2);
  }
  return out;
}

async function waitFor(cond: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 3));
  }
}

function substitute(text: string, idMap: Map<string, string>): string {
  let out = text;
  for (const [from, to] of idMap) out = out.split(from).join(to);
  return out;
}

function buildBody(req: CapturedRequest, opts: ReplayOptions): { body?: Buffer; headers: Record<string, string> } {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers_sent)) if (k === 'Origin' || k === 'Content-Type') headers[k] = v;
  if (req.multipart_fields) {
    const boundary = 'fakeboundary' + Math.random().toString(16).slice(2);
    const parts: Buffer[] = [];
    for (const f of req.multipart_fields) {
      const head = f.filename !== undefined
        ? `--${boundary}\r\nContent-Type: ${f.content_type ?? 'application/octet-stream'}\r\nContent-Disposition: form-data; name="${f.name}"; filename="${f.filename}"\r\n\r\n`
        : `--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Disposition: form-data; name="${f.name}"\r\n\r\n`;
      const value = f.filename !== undefined ? (opts.uploadBytes?.(req.label, f) ?? Buffer.from('file')) : Buffer.from(f.value);
      parts.push(Buffer.from(head), value, Buffer.from('\r\n'));
    }
    parts.push(Buffer.from(`--${boundary}--\r\n`));
    headers['Content-Type'] = `multipart/form-data; boundary=${boundary}`;
    return { body: Buffer.concat(parts), headers };
  }
  if (req.body_json !== undefined) return { body: Buffer.from(substitute(JSON.stringify(req.body_json), opts.idMap)), headers };
  if (req.body_raw !== undefined) return { body: Buffer.from(req.body_raw), headers };
  return { headers };
}

/** Output file names (PreviewImage's random temp prefix) as the fake named them, from aligned `executed` frames. */
function learnFilenames(past: TimelineEvent[], frames: Map<string, ReceivedFrame[]>, idMap: Map<string, string>): void {
  type Executed = { node: string; output?: { images?: { filename: string }[] } | null };
  for (const [label, received] of frames) {
    const actual = new Map<string, Executed>();
    for (const f of received) if (f.type === 'executed') actual.set((f.json?.data as Executed).node, f.json?.data as Executed);
    for (const e of past) {
      if (e.kind !== 'ws_recv' || e.client_id !== label || e.frame !== 'text' || e.json.type !== 'executed') continue;
      const want = e.json.data as Executed;
      const got = actual.get(want.node)?.output?.images ?? [];
      (want.output?.images ?? []).forEach((img, k) => {
        if (got[k] && got[k].filename !== img.filename) idMap.set(img.filename, got[k].filename);
      });
    }
  }
}

export async function replay(fake: FakeComfy, capture: Capture, opts: ReplayOptions): Promise<ReplayResult> {
  const timeoutMs = opts.timeoutMs ?? 4000;
  const sockets = new Map<string, WebSocket>();
  const frames = new Map<string, ReceivedFrame[]>();
  const http: HttpExchange[] = [];
  const events = capture.timeline;
  const expectedBefore = (i: number): Map<string, number> => {
    const counts = new Map<string, TimelineEvent[]>();
    for (const e of events.slice(0, i)) if (e.kind === 'ws_recv') counts.set(e.client_id, [...(counts.get(e.client_id) ?? []), e]);
    return new Map([...counts].map(([k, v]) => [k, collapse(v, (f) => frameType(f as CapturedFrame)).length]));
  };
  const sync = async (i: number): Promise<void> => {
    for (const [label, count] of expectedBefore(i)) {
      await waitFor(
        () => collapse(frames.get(label) ?? [], frameType).length >= count,
        timeoutMs,
        () => `${capture.case}: ${label} to receive ${count} frames before step ${i}, got ${(frames.get(label) ?? []).map(frameType).join(',')}`,
      );
    }
  };

  try {
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      if (e.kind === 'ws_recv' || e.kind === 'note') continue;
      await sync(i);
      if (e.kind === 'ws_open') {
        const url = new URL(e.url);
        const ws = new WebSocket(`ws://127.0.0.1:${fake.port}${url.pathname}${url.search}`);
        const list: ReceivedFrame[] = [];
        frames.set(e.client_id, list);
        ws.on('message', (data: Buffer, isBinary: boolean) => {
          if (isBinary) list.push({ type: 'binary', raw: null, json: null, binary: data });
          else {
            const raw = data.toString('utf8');
            const json = JSON.parse(raw) as { type: string; data: unknown };
            list.push({ type: json.type, raw, json, binary: null });
          }
        });
        sockets.set(e.client_id, ws);
        await new Promise<void>((resolve, reject) => {
          ws.once('open', () => resolve());
          ws.once('error', reject);
        });
      } else if (e.kind === 'ws_send') {
        sockets.get(e.client_id)?.send(e.raw);
      } else if (e.kind === 'ws_closed') {
        const ws = sockets.get(e.client_id);
        if (ws) {
          const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
          ws.close();
          await closed;
        }
      } else if (e.kind === 'http') {
        learnFilenames(events.slice(0, i), frames, opts.idMap);
        const u = new URL(e.request.url);
        const { body, headers } = buildBody(e.request, opts);
        const res = await fetch(`${fake.url}${substitute(u.pathname + u.search, opts.idMap)}`, { method: e.request.method, headers, body });
        const buf = Buffer.from(await res.arrayBuffer());
        http.push({ label: e.request.label, request: e.request, expected: e.response, status: res.status, headers: res.headers, body: buf });
        const expectedId = (e.response.body_json as { prompt_id?: string } | undefined)?.prompt_id;
        if (e.request.path === '/prompt' && e.request.method === 'POST' && res.status === 200 && expectedId) {
          opts.idMap.set(expectedId, (JSON.parse(buf.toString('utf8')) as { prompt_id: string }).prompt_id);
        }
      }
    }
    await sync(events.length);
    await new Promise((r) => setTimeout(r, 40));
  } finally {
    for (const ws of sockets.values()) ws.terminate();
  }
  return { frames, http };
}
