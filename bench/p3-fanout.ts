/**
 * P3, websocket fan-out capacity: 1,000 clients, each with its own socket and its own generation,
 * on a real bridge (storage in memory, generations, generate, ws, metrics) whose transport is
 * synthetic (bench/servers/synthetic-transport.ts): once every client has submitted through
 * POST /generate-based-workflow, it emits rounds of one `progress` per live generation — each a
 * step further, so each is a frame — as fast as the bridge takes them, then completes them all.
 * Measured: progress frames received per second over all clients (first emission → last receipt),
 * and the latency from an event's emission (in the bridge process) to its frame's receipt (here),
 * both stamped on CLOCK_MONOTONIC. The bridge runs pinned to core 0, the clients here on core 1.
 * Median of 3 runs on one bridge process (fresh clients and generations each run).
 * Also the bridge's event-loop delay over the span (perf_hooks monitorEventLoopDelay in the server).
 * BENCH_P3_COMPARE=<another checkout> adds that checkout's fan-out bridge as a third side (before/after
 * in one run; its loop delay only if that checkout measures it). BENCH_P3_BARE_WRITE=1 adds the bare server
 * writing ready frames to the socket as the bridge's hub does since wave 7 (`bareWrite`), instead of ws.send.
 * Run alone: `npx tsx bench/p3-fanout.ts`; the last line printed is the JSON result
 * (BENCH_DEBUG_ROUNDS=1 also prints, per round, the worst latency and how long the emission took).
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { WebSocket } from 'ws';
import { until } from '../test/helpers/until.js';
import { pinSelf, startServerProcess } from './lib/process.js';
import { median, percentile, round } from './lib/stats.js';
import type { FanoutCommand, ProgressAnswer, StartedAnswer } from './servers/fanout-bridge.js';
import { monotonicMs } from './servers/synthetic-transport.js';

const CLIENTS = 1000;
/** Progress events per generation: 1,000 × 60 = 60,000 frames a run. */
const ROUNDS = 60;
const RUNS = 3;
const POST_CONCURRENCY = 50;

export interface FanoutRun {
  clients: number;
  frames: number;
  /** Progress frames received / (last receipt − first emission). */
  framesPerSec: number;
  /** Progress events the bridge applied and wrote out per second (its own side of the same span). */
  bridgeEventsPerSec: number;
  latencyMs: { p50: number; p99: number; max: number };
  /** The server's event-loop delay over the span (NaN when the server does not report it). */
  loopDelayMs: { p50: number; p99: number; max: number };
  /** CPU use over the run, in % of one core: the bridge process, and this (client) process. */
  bridgeCpuPct: number;
  clientCpuPct: number;
  /** Server CPU (user + system, every thread) per progress event over the span, in µs: what a frame costs, whatever share of its core the server got. */
  cpuUsPerEvent: number;
  /** Mean size of a progress frame on the wire (payload only). */
  frameBytes: number;
  allClosedNormally: boolean;
}

export interface FanoutResult {
  runs: number;
  /** The real bridge with the synthetic transport, rounds as fast as it takes them. */
  bridge: FanoutRun;
  /** The same bridge, one round every 50 ms (20,000 events/s): latency below saturation (one run). */
  bridgePaced: FanoutRun;
  /** bench/servers/bare-ws-fanout.ts: encode a frame of the same shape and ws.send it, and the `listening` heartbeat every second as the bridge sends it; nothing else. */
  bareWs: FanoutRun;
  /** bridge frames/s ÷ bare frames/s, median over the runs (each pair taken back to back). */
  bridgeToBare: number;
  /** bare CPU per event ÷ bridge CPU per event, median over the runs: the same ratio read from CPU (0.8 = the bridge needs 1.25× the CPU per frame), steadier under load. */
  bridgeToBareCpu: number;
  /** BENCH_P3_BARE_WRITE's bare server (one write of a ready frame per send), and the bridge's ratios to it. */
  bareWrite?: FanoutRun;
  bridgeToBareWrite?: number;
  bridgeToBareWriteCpu?: number;
  /** BENCH_P3_COMPARE's bridge, saturated, and its ratios to the bare server. */
  compare?: FanoutRun;
  compareToBare?: number;
  compareToBareCpu?: number;
}

interface Frame {
  status: string;
  seq?: number;
  data?: { state?: string; step?: number | null };
}

async function pool<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await task(items[next++]!);
    }),
  );
}

function ask<T>(child: ChildProcess, command: FanoutCommand, answer: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: { cmd: string }) => {
      if (message.cmd !== answer) return;
      child.off('message', onMessage);
      resolve(message as T);
    };
    child.on('message', onMessage);
    child.send(command, (error) => error && reject(error));
  });
}

interface Pace {
  rounds: number;
  intervalMs: number;
}

const SATURATED: Pace = { rounds: ROUNDS, intervalMs: 0 };
/** 20 rounds of 1,000 events 50 ms apart: 20,000 events/s, below what the bridge can take, to see latency without a backlog. */
const PACED: Pace = { rounds: 20, intervalMs: 50 };

async function once(url: string, child: ChildProcess, run: number, submit: boolean, { rounds: ROUNDS, intervalMs }: Pace): Promise<FanoutRun> {
  const receipts = new Float64Array(CLIENTS * ROUNDS).fill(NaN);
  let running = 0;
  let frames = 0;
  let lastReceipt = 0;
  let bytes = 0;
  let normalCloses = 0;
  const sockets: WebSocket[] = [];
  const closes: Promise<void>[] = [];
  const base = url.replace(/^http/, 'ws');

  await pool(
    Array.from({ length: CLIENTS }, (_, i) => i),
    100,
    async (i) => {
      const ws = new WebSocket(`${base}/ws?clientId=fanout-${run}-${i}`, { perMessageDeflate: false });
      ws.on('message', (data: Buffer) => {
        const now = monotonicMs();
        const frame = JSON.parse(data.toString()) as Frame;
        if (frame.seq === undefined || frame.status !== 'progress') return;
        const step = frame.data?.step;
        if (typeof step === 'number' && step >= 1) {
          receipts[i * ROUNDS + step - 1] = now;
          frames++;
          bytes += data.length;
          lastReceipt = now;
        } else if (frame.data?.state === 'running') {
          running++;
        }
      });
      closes.push(new Promise((resolve) => ws.once('close', (code) => resolve(void (normalCloses += code === 1000 ? 1 : 0)))));
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      sockets.push(ws);
    },
  );

  try {
    if (submit) await pool(
      Array.from({ length: CLIENTS }, (_, i) => i),
      POST_CONCURRENCY,
      async (i) => {
        const post = () =>
          fetch(`${url}/generate-based-workflow?clientId=fanout-${run}-${i}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ workflow: 'fanout', '2/filename_prefix': `c${i}` }),
          });
        // A kept-alive connection idle since the previous run may be closed by the server as it is reused (its
        // keep-alive timeout, late on a loaded machine): undici then fails with "other side closed" before
        // the server read anything. Sent again once, on a new connection.
        const response = await post()
          .catch((error: unknown) => (/other side closed|ECONNRESET/.test(String((error as Error).cause ?? error)) ? post() : Promise.reject(error)))
          .catch((error: unknown) => {
            throw new Error(`POST ${url} (run ${run}, client ${i}) failed: ${String((error as Error).cause ?? error)}`);
          });
        if (response.status !== 200) throw new Error(`generate answered ${response.status}: ${await response.text()}`);
        await response.arrayBuffer();
      },
    );
    await ask<StartedAnswer>(child, { cmd: 'start', clients: CLIENTS }, 'started');
    if (submit) await until(() => running === CLIENTS, 'every generation to be running', 10_000);

    const cpu = process.cpuUsage();
    const answer = await ask<ProgressAnswer>(child, { cmd: 'progress', clients: CLIENTS, rounds: ROUNDS, intervalMs }, 'progressed');
    await until(() => frames === CLIENTS * ROUNDS, `${CLIENTS * ROUNDS} progress frames (${frames} so far)`, 20_000);
    const used = process.cpuUsage(cpu);
    await until(() => normalCloses === CLIENTS || undefined, 'every socket to close after its generation completed', 10_000).catch(() => undefined);

    const latencies: number[] = [];
    for (let k = 0; k < receipts.length; k++) latencies.push(receipts[k]! - answer.stamps[k]!);
    if (process.env.BENCH_DEBUG_ROUNDS) {
      const perRound = Array.from({ length: ROUNDS }, (_, step) => Math.max(...Array.from({ length: CLIENTS }, (_, i) => receipts[i * ROUNDS + step]! - answer.stamps[i * ROUNDS + step]!)));
      const emitSpan = Array.from({ length: ROUNDS }, (_, step) => answer.stamps[(CLIENTS - 1) * ROUNDS + step]! - answer.stamps[step]!);
      process.stderr.write(`max latency per round: ${perRound.map((v) => v.toFixed(0)).join(' ')}\nemit span per round: ${emitSpan.map((v) => v.toFixed(1)).join(' ')}\n`);
    }
    latencies.sort((a, b) => a - b);
    const spanMs = lastReceipt - answer.stamps[0]!;
    return {
      clients: CLIENTS,
      frames,
      framesPerSec: round((frames / spanMs) * 1000, 0),
      bridgeEventsPerSec: round(((CLIENTS * ROUNDS) / answer.bridgeMs) * 1000, 0),
      latencyMs: { p50: round(percentile(latencies, 50), 2), p99: round(percentile(latencies, 99), 2), max: round(latencies.at(-1)!, 2) },
      loopDelayMs: answer.loopDelayMs ?? { p50: NaN, p99: NaN, max: NaN },
      bridgeCpuPct: round((answer.cpuMs / answer.bridgeMs) * 100, 0),
      clientCpuPct: round(((used.user + used.system) / 1000 / spanMs) * 100, 0),
      cpuUsPerEvent: round((answer.cpuMs * 1000) / (CLIENTS * ROUNDS), 1),
      frameBytes: round(bytes / frames, 0),
      allClosedNormally: normalCloses === CLIENTS,
    };
  } finally {
    for (const ws of sockets) ws.terminate();
  }
}

interface Side {
  server: Awaited<ReturnType<typeof startServerProcess>>;
  submit: boolean;
  runs: FanoutRun[];
}

async function side(script: string, args: string[] = []): Promise<Side> {
  const server = await startServerProcess(script, args, 0, {}, { ipc: true });
  return { server, submit: script.includes('fanout-bridge'), runs: [] };
}

function summary(runs: FanoutRun[]): FanoutRun {
  const mid = (pick: (r: FanoutRun) => number) => median(runs.map(pick));
  return {
    clients: CLIENTS,
    frames: mid((r) => r.frames),
    framesPerSec: mid((r) => r.framesPerSec),
    bridgeEventsPerSec: mid((r) => r.bridgeEventsPerSec),
    latencyMs: { p50: mid((r) => r.latencyMs.p50), p99: mid((r) => r.latencyMs.p99), max: mid((r) => r.latencyMs.max) },
    loopDelayMs: { p50: mid((r) => r.loopDelayMs.p50), p99: mid((r) => r.loopDelayMs.p99), max: mid((r) => r.loopDelayMs.max) },
    bridgeCpuPct: mid((r) => r.bridgeCpuPct),
    clientCpuPct: mid((r) => r.clientCpuPct),
    cpuUsPerEvent: mid((r) => r.cpuUsPerEvent),
    frameBytes: mid((r) => r.frameBytes),
    allClosedNormally: runs.every((r) => r.allClosedNormally),
  };
}

const ratios = (a: FanoutRun[], b: FanoutRun[]): number => round(median(a.map((run, i) => run.framesPerSec / b[i]!.framesPerSec)), 2);
const cpuRatios = (a: FanoutRun[], b: FanoutRun[]): number => round(median(a.map((run, i) => b[i]!.cpuUsPerEvent / run.cpuUsPerEvent)), 2);

/**
 * The sides run one after another within each of the 3 runs (bridge, bare, compare), so each ratio
 * compares runs taken seconds apart; every server process lives through all runs.
 */
export async function run(): Promise<FanoutResult> {
  pinSelf(1);
  const here = (script: string) => new URL(script, import.meta.url).pathname;
  const compareDir = process.env.BENCH_P3_COMPARE;
  const bridge = await side(here('./servers/fanout-bridge.ts'));
  const bare = await side(here('./servers/bare-ws-fanout.ts'));
  const compare = compareDir ? await side(join(compareDir, 'bench/servers/fanout-bridge.ts')) : undefined;
  const bareWrite = process.env.BENCH_P3_BARE_WRITE ? await side(here('./servers/bare-ws-fanout.ts'), ['--write']) : undefined;
  const sides = [bridge, bare, ...(compare ? [compare] : []), ...(bareWrite ? [bareWrite] : [])];
  try {
    for (let i = 0; i < RUNS; i++) for (const one of sides) one.runs.push(await once(one.server.url, one.server.child, i, one.submit, SATURATED));
    const bridgePaced = await once(bridge.server.url, bridge.server.child, RUNS, true, PACED);
    return {
      runs: RUNS,
      bridge: summary(bridge.runs),
      bridgePaced,
      bareWs: summary(bare.runs),
      bridgeToBare: ratios(bridge.runs, bare.runs),
      bridgeToBareCpu: cpuRatios(bridge.runs, bare.runs),
      ...(bareWrite && { bareWrite: summary(bareWrite.runs), bridgeToBareWrite: ratios(bridge.runs, bareWrite.runs), bridgeToBareWriteCpu: cpuRatios(bridge.runs, bareWrite.runs) }),
      ...(compare && { compare: summary(compare.runs), compareToBare: ratios(compare.runs, bare.runs), compareToBareCpu: cpuRatios(compare.runs, bare.runs) }),
    };
  } finally {
    for (const one of sides) await one.server.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await run()));
  process.exit(0);
}
