/**
 * Websocket benchmarks through the fake ComfyUI (P3 second row) and idle sockets (P4); the fan-out
 * capacity row of P3 is bench/p3-fanout.ts (a synthetic transport, not a serial backend).
 *  1. 1,000 clients, each with its own socket and its own generation (the repo's text-to-image
 *     workflow on the fake ComfyUI: zero-duration nodes, 20 KSampler steps reporting progress):
 *     generation frames delivered per second, and the latency from the generations service
 *     publishing a frame on the bus to the client holding it (p50/p99). Bridge, fake ComfyUI and
 *     clients share this process, so the latency includes the clients' own parsing (pessimistic).
 *  2. 10,000 idle sockets on a bridge in its own process: its RSS growth per socket.
 * Run alone: `npx tsx bench/ws.ts`; the last line printed is the JSON result.
 */
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { WebSocket } from 'ws';
import { clientTopic, type ClientFrame } from '../contracts/client-frame.js';
import { definePlugin, type PluginManifest } from '../core/plugin.js';
import { postJson, startStack } from '../test/e2e-support.js';
import { startServerProcess } from './lib/process.js';
import { percentile, round } from './lib/stats.js';

const FOLLOWERS = 1000;
const IDLE_SOCKETS = 10_000;
const POST_CONCURRENCY = 50;

export interface WsBenchResult {
  fanOut: {
    clients: number;
    generationFrames: number;
    framesPerSec: number;
    latencyMs: { p50: number; p99: number; max: number; samples: number };
    seconds: number;
    allClosedNormally: boolean;
  };
  idle: { sockets: number; rssBeforeMiB: number; rssAfterMiB: number; rssPerSocketKiB: number };
}

interface Frame {
  status: string;
  details: string;
  seq?: number;
  data?: { id?: string; state?: string };
}

/** Runs `task` over `items` with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await task(items[next++]!);
    }),
  );
}

function openSocket(url: string, onMessage?: (text: string) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    if (onMessage) ws.on('message', (data) => onMessage(data.toString()));
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

async function fanOut(): Promise<WsBenchResult['fanOut']> {
  const published = new Map<string, number>();
  const probe: PluginManifest<never> = definePlugin({
    name: 'bench-probe',
    dependencies: ['bus'],
    register(ctx) {
      // The moment generations publishes a client's frame on the bus, before ws delivers it.
      const bus = ctx.use('bus');
      for (let i = 0; i < FOLLOWERS; i++) {
        bus.subscribe<ClientFrame>(clientTopic(`bench-${i}`), ({ payload }) => {
          const key = `${payload.generationId}|${payload.details}|${String(payload.data.state)}`;
          if (!published.has(key)) published.set(key, performance.now());
        });
      }
    },
  }) as PluginManifest<never>;

  const stack = await startStack({
    nodeDurationMs: 0,
    ws: { idleTimeoutMs: 3_600_000, heartbeatMs: 1000 },
    generations: { stuckAfterMs: 3_600_000 },
    // Own caps: all followers' generations are live at once, over the default queue bound (1000 → 429).
    generate: { maxActive: 1_000_000, maxActivePerClient: 10_000 },
    extraPlugins: [probe],
  });
  try {
    const latencies: number[] = [];
    let frames = 0;
    let normalCloses = 0;
    const closes: Promise<void>[] = [];
    const base = stack.bridge.url.replace(/^http/, 'ws');
    await pool(
      Array.from({ length: FOLLOWERS }, (_, i) => i),
      100,
      async (i) => {
        const ws = await openSocket(`${base}/ws?clientId=bench-${i}`, (text) => {
          const frame = JSON.parse(text) as Frame;
          if (frame.seq === undefined) return;
          frames++;
          const sent = published.get(`${frame.data?.id}|${frame.details}|${frame.data?.state}`);
          if (sent !== undefined) latencies.push(performance.now() - sent);
        });
        closes.push(new Promise((resolve) => ws.once('close', (code) => resolve(void (normalCloses += code === 1000 ? 1 : 0)))));
      },
    );

    const started = performance.now();
    await pool(
      Array.from({ length: FOLLOWERS }, (_, i) => i),
      POST_CONCURRENCY,
      async (i) => {
        const answer = await postJson(`${stack.bridge.url}/generate-based-workflow?clientId=bench-${i}`, {
          workflow: 'text-to-image',
          '5/width': 64,
          '5/height': 64,
          '3/steps': 20,
          '3/seed': i,
        });
        if (answer.status !== 200) throw new Error(`generate answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      },
    );
    await Promise.all(closes);
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    return {
      clients: FOLLOWERS,
      generationFrames: frames,
      framesPerSec: round(frames / seconds, 1),
      latencyMs: { p50: round(percentile(latencies, 50), 2), p99: round(percentile(latencies, 99), 2), max: round(latencies.at(-1) ?? NaN, 2), samples: latencies.length },
      seconds: round(seconds, 2),
      allClosedNormally: normalCloses === FOLLOWERS,
    };
  } finally {
    await stack.stop();
  }
}

async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
  return kib * 1024;
}

async function idle(): Promise<WsBenchResult['idle']> {
  const server = await startServerProcess(new URL('./servers/bridge.ts', import.meta.url).pathname, [], 0, {
    // Over the default connection cap (4096), which refuses the rest: this measures memory, not the cap.
    BENCH_MAX_CONNECTIONS: String(IDLE_SOCKETS + 100),
    BENCH_PLUGINS: JSON.stringify({
      'storage-nedb': { inMemory: true },
      ws: { idleTimeoutMs: 3_600_000, heartbeatMs: 1000, maxSocketsPerClient: 16 },
    }),
  });
  const sockets: WebSocket[] = [];
  try {
    const pid = server.child.pid!;
    // Warm up code paths (first upgrade, first heartbeat) so the baseline is not the cold process.
    const warm = await Promise.all(Array.from({ length: 50 }, (_, i) => openSocket(`${server.url.replace(/^http/, 'ws')}/ws?clientId=warm-${i}`)));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    for (const ws of warm) ws.terminate();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const before = await rssOf(pid);
    await pool(
      Array.from({ length: IDLE_SOCKETS }, (_, i) => i),
      200,
      async (i) => void sockets.push(await openSocket(`${server.url.replace(/^http/, 'ws')}/ws?clientId=idle-${i}`, () => undefined)),
    );
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const after = await rssOf(pid);
    return {
      sockets: sockets.length,
      rssBeforeMiB: round(before / 1024 / 1024, 1),
      rssAfterMiB: round(after / 1024 / 1024, 1),
      rssPerSocketKiB: round((after - before) / sockets.length / 1024, 2),
    };
  } finally {
    for (const ws of sockets) ws.terminate();
    await server.stop();
  }
}

export async function run(): Promise<WsBenchResult> {
  return { fanOut: await fanOut(), idle: await idle() };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await run()));
}
