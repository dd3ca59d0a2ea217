/**
 * P9: a generation's whole life, bridge vs a direct call to the same ComfyUI, in the same run.
 *  - c=1: POST → `closed` frame (bridge: POST /generate-based-workflow, then the client's websocket frame
 *    `closed` of that generation) against POST /prompt → ComfyUI's end signal on its websocket
 *    (`executing` with node null for that prompt_id), and the same plus GET /history/<id> (what a direct
 *    client needs to learn its output files; the bridge's `closed` carries the result URLs). Also the POST
 *    answer alone. Rounds interleave the two sides (direct, bridge, bridge, direct, …) so both see the
 *    same machine load.
 *  - c=8: 8 clients, each its own websocket and a sequential loop of whole lives, for a fixed time per
 *    round; generations/s of each side, interleaved rounds.
 *  - CPU per generation: utime + stime of the bridge process (/proc/<pid>/stat) over the bridge's c=1
 *    and c=8 phases divided by the generations they ran; the backend's CPU per generation over the direct
 *    phases for scale (with the fake, its own work; with the real ComfyUI, Python's).
 * The workflow is the model-free EmptyImage → SaveImage (64×64), its `color` changed on every request so
 * ComfyUI's cache never answers for it (SaveImage really writes a PNG on both sides).
 * Backend: the fake ComfyUI (zero-duration nodes, its own process on core 1 beside this load generator), or
 * a real ComfyUI already running at BENCH_COMFY_URL (see ../shared/comfy-real/README.md).
 * The bridge: default plugins, file store (fsync on, the default), in its own process on core 0.
 * Env: BENCH_COMFY_URL, BENCH_COMFY_PID (the real one's pid, for its CPU), BENCH_P9_ROUNDS (6), BENCH_P9_PER_ROUND (40), BENCH_P9_C8_SECONDS (3),
 *   BENCH_P9_COMPARE (a second bridge, below), BENCH_P9_SWAP_DIRS=1 (the two bridges' data dirs swapped),
 *   BENCH_P9_TWO_OUTPUTS=<ms> (a second SaveImage after a TestSleep of that many ms: tinyGraph),
 *   BENCH_P9_FAKE_DIR=<folder> (the fake's folders there, e.g. /dev/shm, not on the bridges' disk: fakeDir),
 *   BENCH_P9_LOCAL_OUTPUTS=1 (the bridges read outputs from the backend's output folder, option outputDir, not
 *   GET /view; with a real ComfyUI, BENCH_COMFY_OUTPUT_DIR names its folder; a compare checkout without the
 *   option ignores it and fetches over HTTP),
 *   BENCH_P9_BARE_GATEWAY=1 (or `log`; `files`; `nosync`; several: `log,nosync`): one more side each,
 *   bench/servers/bare-gateway.ts, the least a Node gateway does for a generation's durable job (node:http and ws,
 *   rows and result bytes fdatasynced before they are acknowledged; `files`: each result as its own synced file
 *   instead of the results log), started like the bridge (own process, core 0, same backend) and measured in the
 *   same rounds: the floor under the bridge's side (it always fetches outputs with GET /view).
 * Run alone: `npx tsx bench/p9-lifecycle.ts`; the last line printed is the JSON result (with BENCH_P9_BARE_GATEWAY, a
 * table of the sides before it).
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { loadavg } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { WebSocket } from 'ws';
import { pinSelf, startServerProcess, type ServerProcess } from './lib/process.js';
import { percentile, round } from './lib/stats.js';
import { scratchDir } from './lib/scratch.js';

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const ROUNDS = Number(process.env.BENCH_P9_ROUNDS ?? 6);
const PER_ROUND = Number(process.env.BENCH_P9_PER_ROUND ?? 40);
const C8_SECONDS = Number(process.env.BENCH_P9_C8_SECONDS ?? 3);
const CLIENTS = 8;

/**
 * Where SaveImage writes. A real ComfyUI lists the whole output folder on every save to find the next file
 * number, so its run time grows with every image earlier runs left there (26k files made a direct life ~17 ms
 * slower here): against a real one each run saves into a folder of its own, which starts empty.
 */
const OUTPUT_PREFIX = process.env.BENCH_COMFY_URL ? `p10-${Date.now().toString(36)}-${process.pid}/p9` : 'p9';

/**
 * BENCH_P9_TWO_OUTPUTS=<ms>: the workflow saves a second image after a TestSleep of that many ms (fake ComfyUI only),
 * so the first output is saved while the prompt still runs (a file copied when announced, wave 11, is then copied
 * off the way to `closed`).
 */
const TWO_OUTPUTS_MS = process.env.BENCH_P9_TWO_OUTPUTS;

/** The tiny workflow, as the bridge registers it and as the direct client posts it. */
export function tinyGraph(color: number) {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color }, _meta: { title: 'Canvas', apiinput: 'color' } },
    '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: OUTPUT_PREFIX } },
    ...(TWO_OUTPUTS_MS === undefined
      ? {}
      : {
          '3': { class_type: 'TestSleep', inputs: { value: ['1', 0], seconds: Number(TWO_OUTPUTS_MS) / 1000 } },
          '4': { class_type: 'SaveImage', inputs: { images: ['3', 0], filename_prefix: `${OUTPUT_PREFIX}b` } },
        }),
  };
}

let colorCounter = 1;
/** A colour never used before in this run, so ComfyUI's cache cannot answer (24-bit). */
const nextColor = () => (colorCounter = (colorCounter * 7919 + 1) % 16_777_216);

export const agent = new Agent({ keepAlive: true, maxSockets: 64 });

function post(url: string, body: string): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown> }));
    });
    req.once('error', reject);
    req.end(body);
  });
}

export function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('error', reject);
    req.end();
  });
}

/** One websocket of one client; `waitFor(key)` resolves when the message with that key arrives (or arrived). */
class Socket {
  readonly #seen = new Set<string>();
  readonly #waiting = new Map<string, () => void>();
  private constructor(readonly ws: WebSocket) {}

  static async open(url: string, keyOf: (message: Record<string, unknown>) => string | undefined): Promise<Socket> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const socket = new Socket(ws);
    ws.on('message', (data: Buffer) => {
      const key = keyOf(JSON.parse(data.toString('utf8')) as Record<string, unknown>);
      if (key === undefined) return;
      const waiter = socket.#waiting.get(key);
      if (waiter) {
        socket.#waiting.delete(key);
        waiter();
      } else socket.#seen.add(key);
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return socket;
  }

  waitFor(key: string, timeoutMs = 60_000): Promise<void> {
    if (this.#seen.delete(key)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no end message for ${key} within ${timeoutMs} ms`)), timeoutMs);
      this.#waiting.set(key, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  close(): void {
    this.ws.terminate();
  }
}

interface Life {
  /** POST → its answer, ms. */
  answered: number;
  /** POST → the end on the websocket, ms. */
  done: number;
  /** POST → end → GET /history answered (direct only), ms. */
  withHistory?: number;
}

interface Side {
  name: string;
  client(index: number): Promise<{ life(): Promise<Life>; close(): void }>;
}

const since = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;

export function directSide(comfyUrl: string): Side {
  const wsUrl = comfyUrl.replace(/^http/, 'ws');
  return {
    name: 'direct',
    async client(index) {
      const clientId = `p9-direct-${index}-${randomUUID()}`;
      // ComfyUI's end of a prompt: `executing` with node null (sent after its history is stored).
      const socket = await Socket.open(`${wsUrl}/ws?clientId=${clientId}`, (m) => {
        const data = m.data as { node?: unknown; prompt_id?: string } | undefined;
        return m.type === 'executing' && data?.node === null ? data.prompt_id : undefined;
      });
      return {
        close: () => socket.close(),
        async life() {
          const promptId = randomUUID();
          const start = process.hrtime.bigint();
          const ended = socket.waitFor(promptId);
          const answer = await post(`${comfyUrl}/prompt`, JSON.stringify({ prompt: tinyGraph(nextColor()), client_id: clientId, prompt_id: promptId }));
          const answered = since(start);
          if (answer.status !== 200) throw new Error(`direct POST /prompt answered ${answer.status}: ${JSON.stringify(answer.json)}`);
          await ended;
          const done = since(start);
          const history = await get(`${comfyUrl}/history/${promptId}`);
          if (history !== 200) throw new Error(`GET /history answered ${history}`);
          return { answered, done, withHistory: since(start) };
        },
      };
    },
  };
}

export function bridgeSide(bridgeUrl: string, name: string): Side {
  const wsUrl = bridgeUrl.replace(/^http/, 'ws');
  return {
    name,
    async client(index) {
      const clientId = `p9-${name}-${index}-${randomUUID()}`;
      const socket = await Socket.open(`${wsUrl}/ws?clientId=${clientId}`, (m) => {
        if (m.status === 'error') throw new Error(`bridge error frame: ${JSON.stringify(m)}`);
        const data = m.data as { id?: string } | undefined;
        return m.status === 'closed' && data?.id ? data.id : undefined;
      });
      return {
        close: () => socket.close(),
        async life() {
          const start = process.hrtime.bigint();
          const answer = await post(`${bridgeUrl}/generate-based-workflow?clientId=${clientId}`, JSON.stringify({ workflow: 'p9-tiny', '1/color': nextColor() }));
          const answered = since(start);
          if (answer.status !== 200) throw new Error(`bridge POST answered ${answer.status}: ${JSON.stringify(answer.json)}`);
          await socket.waitFor(answer.json.id as string);
          return { answered, done: since(start) };
        },
      };
    },
  };
}

/** utime + stime of a process in ms (clock ticks of 10 ms). */
async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

export async function sequentialRound(client: { life(): Promise<Life> }, count: number, into: Life[]): Promise<void> {
  for (let i = 0; i < count; i++) into.push(await client.life());
}

/** 8 clients looping whole lives for `seconds`; returns the generations that ended in that time. */
async function concurrentRound(clients: { life(): Promise<Life> }[], seconds: number): Promise<number> {
  const until = performance.now() + seconds * 1000;
  let ended = 0;
  await Promise.all(
    clients.map(async (client) => {
      while (performance.now() < until) {
        await client.life();
        if (performance.now() <= until) ended++;
      }
    }),
  );
  return ended / seconds;
}

const stats = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: round(percentile(sorted, 50), 3), p95: round(percentile(sorted, 95), 3) };
};
const median = (values: number[]) => percentile([...values].sort((a, b) => a - b), 50);

/**
 * The base of the fake ComfyUI's input/output/temp folders: `dataDir/fake`, on the bridges' own disk, by default.
 * BENCH_P9_FAKE_DIR=<folder> puts them elsewhere (e.g. /dev/shm): a ComfyUI on a GPU host of its own writes its images
 * to a disk the bridge does not sync. On one ext4 disk the bridge's fsyncs commit the journal that the fake's own file
 * creations then wait for (wave 14: the fake's opens took ~0.05 ms with its folders on tmpfs, 0.7–1.3 ms beside the
 * bridge's data dir), which slows the backend itself in the bridge's rounds and not in the direct ones.
 */
export function fakeDir(dataDir: string): string {
  const elsewhere = process.env.BENCH_P9_FAKE_DIR;
  return elsewhere ? join(elsewhere, `bench-p9-fake-${basename(dataDir)}`) : join(dataDir, 'fake');
}

/**
 * BENCH_P9_LOCAL_OUTPUTS=1: the folder the bridges read outputs from (comfyui's backends[].outputDir) instead of
 * GET /view: the fake's output folder (fakeDir), or BENCH_COMFY_OUTPUT_DIR with a real ComfyUI. Undefined without
 * the switch.
 */
export function localOutputDir(dataDir: string, real: boolean): string | undefined {
  if (process.env.BENCH_P9_LOCAL_OUTPUTS !== '1') return undefined;
  if (!real) return join(fakeDir(dataDir), 'output');
  const dir = process.env.BENCH_COMFY_OUTPUT_DIR;
  if (dir === undefined) throw new Error('BENCH_P9_LOCAL_OUTPUTS with a real ComfyUI needs BENCH_COMFY_OUTPUT_DIR (its output folder)');
  return dir;
}

/** Starts a bridge (this checkout's, or another checkout's bench/servers/bridge.ts) on core 0 and waits until it is ready. */
export async function startBridge(checkout: string, comfyUrl: string, dataDir: string, workflowsDir: string, outputDir?: string): Promise<ServerProcess> {
  const bridge = await startServerProcess(join(checkout, 'bench/servers/bridge.ts'), [], 0, {
    BENCH_BACKENDS: comfyUrl,
    ...(outputDir === undefined ? {} : { BENCH_BACKEND_OUTPUT_DIR: outputDir }),
    BENCH_DATA_DIR: dataDir,
    BENCH_PLUGINS: JSON.stringify({ workflows: { dir: workflowsDir, watch: false }, ws: { closeOnDone: false } }),
  });
  const deadline = Date.now() + 30_000;
  while ((await get(`${bridge.url}/ready`)) !== 200) {
    if (Date.now() > deadline) throw new Error('the bridge did not become ready within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return bridge;
}

/**
 * BENCH_P9_BARE_GATEWAY: `1` or `log` (result bytes through a log, the bridge's default), `files` (a synced file each),
 * `nosync` (the log's writes, nothing synced: not durable, what Node alone costs); a comma-separated list runs one
 * gateway of each, in the same rounds (the first is the side `bare_gateway`, the others `bare_gateway_<mode>`).
 */
const BARE_GATEWAY = process.env.BENCH_P9_BARE_GATEWAY || undefined;
const bareModes = (BARE_GATEWAY ?? '').split(',').filter(Boolean).map((mode) => (mode === '1' ? 'log' : mode));
/** The side's name of each mode, in the JSON's keys (`<name>_closed_p50_ms`, …). */
const bareSides = bareModes.map((mode, i) => (i === 0 ? 'bare_gateway' : `bare_gateway_${mode}`));

/** Starts bench/servers/bare-gateway.ts on core 0, as the bridge is, and waits until it is ready. */
async function startBareGateway(mode: string, comfyUrl: string, dataDir: string, workflowsDir: string): Promise<ServerProcess> {
  if (!['log', 'files', 'nosync'].includes(mode)) throw new Error(`BENCH_P9_BARE_GATEWAY: no mode ${mode} (log, files, nosync)`);
  const gateway = await startServerProcess(here('./servers/bare-gateway.ts'), [], 0, {
    BENCH_BACKENDS: comfyUrl,
    BENCH_DATA_DIR: dataDir,
    BARE_GATEWAY_WORKFLOWS: workflowsDir,
    BARE_GATEWAY_RESULTS: mode === 'files' ? 'files' : 'log',
    BARE_GATEWAY_SYNC: mode === 'nosync' ? '0' : '1',
  });
  if ((await get(`${gateway.url}/ready`)) !== 200) throw new Error('the bare gateway is not ready');
  return gateway;
}

/** The sides of a run in rows (direct, then each gateway): what BENCH_P9_BARE_GATEWAY prints before the JSON. */
function sidesTable(result: Record<string, number>): string {
  const names = [...bareSides, 'bridge', 'compare'].filter((name) => result[`${name}_closed_p50_ms`] !== undefined);
  const lines = [
    `P9 sides, same rounds (load ${result.load_average}): closed p50 (added) | answered p50 (added) | c=8 gen/s (ratio) | CPU ms/gen`,
    `direct               ${result.direct_closed_p50_ms} ms | ${result.direct_answered_p50_ms} ms | ${result.direct_c8_per_s} | backend ${result.backend_cpu_ms_per_gen ?? '–'}`,
    ...names.map(
      (name) =>
        `${name.padEnd(20)} ${result[`${name}_closed_p50_ms`]} (+${result[`${name}_added_closed_p50_ms`]}) ms | ` +
        `${result[`${name}_answered_p50_ms`]} (+${result[`${name}_added_answered_p50_ms`]}) ms | ` +
        `${result[`${name}_c8_per_s`]} (${result[`${name}_c8_ratio`]}) | ${result[`${name}_cpu_ms_per_gen`]}`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}

interface Measured {
  side: Side;
  /** The process whose CPU this side's lives cost (the backend for direct, the bridge otherwise). */
  pid: number | undefined;
  single: { life(): Promise<Life>; close(): void };
  many: { life(): Promise<Life>; close(): void }[];
  lives: Life[];
  perSecond: number[];
  cpuMs: number;
  cpuGens: number;
}

/**
 * BENCH_P9_COMPARE=<another checkout> adds a third side: that checkout's bridge (e.g. main, with its own
 * node_modules) against the same backend, in the same interleaved rounds: before/after in one run.
 */
export async function run(): Promise<Record<string, number>> {
  pinSelf(1);
  const real = process.env.BENCH_COMFY_URL;
  const compare = process.env.BENCH_P9_COMPARE;
  const dataDir = await scratchDir('bench-p9-');
  const workflowsDir = join(dataDir, 'workflows');
  await mkdir(workflowsDir);
  await writeFile(join(workflowsDir, 'p9-tiny.json'), JSON.stringify(tinyGraph(0)));
  const servers: ServerProcess[] = [];
  try {
    let comfyUrl = real;
    const outputDir = localOutputDir(dataDir, real !== undefined);
    if (comfyUrl === undefined) {
      // The fake's folders in the bench's scratch dir, as the bridges' data dirs are (not under /tmp: "Where the benches
      // write", docs/performance.md), with or without the bridges reading its outputs there.
      servers.push(await startServerProcess(here('./servers/fake-comfy.ts'), [], 1, { BENCH_NODE_MS: '0', BENCH_FAKE_DIR: fakeDir(dataDir), ...(TWO_OUTPUTS_MS === undefined ? {} : { BENCH_SLEEP_NODE_MS: TWO_OUTPUTS_MS }) }));
      comfyUrl = servers[0]!.url;
    }
    // With a real ComfyUI, BENCH_COMFY_PID (its pid file: $COMFY_RUN/comfy-<port>.pid) adds its CPU per generation.
    const backendPid = real ? (process.env.BENCH_COMFY_PID ? Number(process.env.BENCH_COMFY_PID) : undefined) : servers[0]!.child.pid;
    // BENCH_P9_SWAP_DIRS=1: this checkout's bridge gets the data dir the compare side has otherwise. File and folder
    // creation cost differs between directories of this VM's file system (docs/performance.md, wave 8): running a
    // comparison both ways tells a data dir's bias from the code's.
    const swap = process.env.BENCH_P9_SWAP_DIRS === '1';
    // Both made now, in one order, so a swap changes which bridge writes where and nothing else.
    for (const dir of ['data', 'data-compare']) await mkdir(join(dataDir, dir, 'results'), { recursive: true });
    const bridge = await startBridge(here('..'), comfyUrl, join(dataDir, swap ? 'data-compare' : 'data'), workflowsDir, outputDir);
    servers.push(bridge);
    const sides: { side: Side; pid: number | undefined }[] = [
      { side: directSide(comfyUrl), pid: backendPid },
      { side: bridgeSide(bridge.url, 'bridge'), pid: bridge.child.pid },
    ];
    if (compare) {
      const before = await startBridge(compare, comfyUrl, join(dataDir, swap ? 'data' : 'data-compare'), workflowsDir, outputDir);
      servers.push(before);
      sides.push({ side: bridgeSide(before.url, 'compare'), pid: before.child.pid });
    }
    for (const [i, mode] of bareModes.entries()) {
      const gateway = await startBareGateway(mode, comfyUrl, join(dataDir, `data-bare-${mode}`), workflowsDir);
      servers.push(gateway);
      sides.push({ side: bridgeSide(gateway.url, bareSides[i]!), pid: gateway.child.pid });
    }
    const measured: Measured[] = [];
    for (const { side, pid } of sides) {
      const single = await side.client(0);
      const many = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => side.client(i + 1)));
      measured.push({ side, pid, single, many, lives: [], perSecond: [], cpuMs: 0, cpuGens: 0 });
    }
    // Warm-up: every side, code paths and caches (ComfyUI's node classes, the bridge's object info).
    for (const m of measured) await sequentialRound(m.single, 20, []);
    for (const m of measured) await concurrentRound(m.many, 1);

    const loads: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      loads.push(loadavg()[0]!);
      // Rotate which side goes first, so none always runs right after another's backlog.
      const order = measured.map((_, i) => measured[(i + r) % measured.length]!);
      for (const m of order) {
        const before = m.pid === undefined ? 0 : await cpuMs(m.pid);
        const count = m.lives.length;
        await sequentialRound(m.single, PER_ROUND, m.lives);
        if (m.pid !== undefined) {
          m.cpuMs += (await cpuMs(m.pid)) - before;
          m.cpuGens += m.lives.length - count;
        }
      }
      for (const m of order) {
        const before = m.pid === undefined ? 0 : await cpuMs(m.pid);
        const rate = await concurrentRound(m.many, C8_SECONDS);
        m.perSecond.push(rate);
        if (m.pid !== undefined) {
          m.cpuMs += (await cpuMs(m.pid)) - before;
          // The lives that ended after the deadline also ran on this CPU: count every started one.
          m.cpuGens += Math.round(rate * C8_SECONDS) + CLIENTS;
        }
      }
    }
    for (const m of measured) for (const client of [m.single, ...m.many]) client.close();

    const [direct, ...bridges] = measured as [Measured, ...Measured[]];
    const d = stats(direct.lives.map((l) => l.done));
    const dh = stats(direct.lives.map((l) => l.withHistory!));
    const da = stats(direct.lives.map((l) => l.answered));
    const directRate = median(direct.perSecond);
    const result: Record<string, number> = {
      direct_closed_p50_ms: d.p50,
      direct_closed_p95_ms: d.p95,
      direct_history_p50_ms: dh.p50,
      direct_history_p95_ms: dh.p95,
      direct_answered_p50_ms: da.p50,
      direct_c8_per_s: round(directRate, 1),
      ...(direct.pid === undefined ? {} : { backend_cpu_ms_per_gen: round(direct.cpuMs / direct.cpuGens, 2) }),
    };
    for (const m of bridges) {
      const name = m.side.name;
      const b = stats(m.lives.map((l) => l.done));
      const ba = stats(m.lives.map((l) => l.answered));
      const rate = median(m.perSecond);
      Object.assign(result, {
        [`${name}_closed_p50_ms`]: b.p50,
        [`${name}_closed_p95_ms`]: b.p95,
        [`${name}_added_closed_p50_ms`]: round(b.p50 - d.p50, 3),
        [`${name}_added_closed_p95_ms`]: round(b.p95 - d.p95, 3),
        [`${name}_closed_p50_ratio`]: round(b.p50 / d.p50, 2),
        [`${name}_answered_p50_ms`]: ba.p50,
        [`${name}_added_answered_p50_ms`]: round(ba.p50 - da.p50, 3),
        [`${name}_c8_per_s`]: round(rate, 1),
        [`${name}_c8_ratio`]: round(rate / directRate, 3),
        [`${name}_cpu_ms_per_gen`]: round(m.cpuMs / m.cpuGens, 2),
      });
    }
    result.lives_per_side_c1 = direct.lives.length;
    result.load_average = round(median(loads), 1);
    return result;
  } finally {
    agent.destroy();
    for (const server of servers.reverse()) await server.stop();
    await rm(dataDir, { recursive: true, force: true });
    if (process.env.BENCH_P9_FAKE_DIR) await rm(fakeDir(dataDir), { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await run();
  if (BARE_GATEWAY !== undefined) process.stdout.write(sidesTable(result));
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
