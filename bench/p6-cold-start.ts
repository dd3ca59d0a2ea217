/**
 * P6: cold start of the CLI as operators run it — `node bin/comfy-bridge.js serve` (the compiled dist/,
 * default plugins, file store; a --config file for port 0, JSON log, a silent backend) — on a data dir
 * holding 100k finished generations, against the same on an empty data dir in the same run: time from
 * spawn to the "listening" log line and to the first 200 from /health, the CPU the process used until
 * then (utime + stime: what the start costs whatever the load), the RSS once it answers, and the stop
 * (SIGTERM to exit). BENCH_P6_COMPARE=<checkout> starts that checkout's CLI on the same dirs in the
 * same rounds (compare_* keys). The same once on a data dir of 1M rows (BENCH_P6_MILLION=0 leaves it out), with the
 * default register deadline. A third data dir holds
 * the same 100k rows as written before final rows dropped their graph ("legacy rows"), which is
 * what an upgraded deployment opens first. The datafiles are written directly, line by line, in the
 * store's own format (generation-store's toDoc, one JSON line per row; legacy: plus the counters datafile), which
 * takes a second instead of a minute of inserts. Median of 3 starts each.
 * Run alone: `npx tsx bench/p6-cold-start.ts`; the last line printed is the JSON result.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { GENERATION_STATES, type GenerationState } from '../contracts/generation.js';
import { toDoc } from '../plugins/storage-nedb/generation-store.js';
import { datafilePath } from '../plugins/storage-nedb/nedb-storage.js';
import { generation, GRAPH } from './history.js';
import { medianOf3, round } from './lib/stats.js';
import { scratchDir } from './lib/scratch.js';

const ROWS = 100_000;

/** Writes `rows` generations as storage-nedb would have left them after a compaction (legacy: with the counters datafile of that time). */
export async function fillDataDir(dataDir: string, rows: number, legacyGraphs: boolean): Promise<number> {
  await mkdir(join(dataDir, 'db'), { recursive: true });
  const out = createWriteStream(datafilePath(dataDir, 'generations'));
  const byState = Object.fromEntries(GENERATION_STATES.map((s) => [s, 0])) as Record<GenerationState, number>;
  const graph = JSON.stringify(GRAPH);
  let chunk = '';
  for (let i = 0; i < rows; i++) {
    const gen = generation(i);
    byState[gen.state]++;
    chunk += `${JSON.stringify(legacyGraphs ? { ...toDoc(gen), graph } : toDoc(gen))}\n`;
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      chunk = '';
    }
  }
  out.end(chunk);
  await finished(out);
  if (legacyGraphs) {
    // Versions that kept the graph of final rows also kept the counters in a datafile of their own
    // (the first start moves them into the generations datafile; later starts read the new layout).
    const counters = createWriteStream(datafilePath(dataDir, 'counters'));
    counters.end(`${JSON.stringify({ _id: 'generations', total: rows, byState })}\n`);
    await finished(counters);
  }
  return (await stat(datafilePath(dataDir, 'generations'))).size;
}

async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) * 1024;
}

/** utime + stime of a process so far, every thread (seconds): what a start costs whatever the machine's load. */
async function cpuOf(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export interface CliStart {
  /** The checkout whose bin/comfy-bridge.js is spawned (default: this one). */
  root?: string;
  /** --data-dir (nedb). */
  dataDir?: string;
  /** More of the process environment, e.g. COMFY_BRIDGE_DATABASE_URL. */
  env?: Record<string, string>;
  /** server.registerTimeoutMs in the config file, for stores that load every row at start. */
  registerTimeoutMs?: number;
}

/**
 * One start of the CLI as operators run it (`npm start` = `node bin/comfy-bridge.js serve`, which runs the
 * compiled dist/ when it is built and fresh): spawn → the "listening" log line → first 200 from /health, then
 * RSS and CPU used, then SIGTERM → exit. A temporary config file (--config) sets what the bench needs: port 0,
 * JSON log lines (the listening line names the port), a backend nobody answers on, the register deadline.
 * Pinned to core 0 where taskset exists (the bench's polling runs on the other).
 */
export async function startCli(options: CliStart = {}): Promise<{ to_listening_s: number; to_health_s: number; cpu_s: number; rss_mib: number; stop_s: number }> {
  const root = options.root ?? fileURLToPath(new URL('../', import.meta.url));
  const configDir = await scratchDir('bench-cli-');
  const configFile = join(configDir, 'config.json');
  const backends = (process.env.BENCH_BACKENDS ?? 'http://127.0.0.1:9').split(',').map((url) => ({ url }));
  const config = { server: { port: 0, ...(options.registerTimeoutMs ? { registerTimeoutMs: options.registerTimeoutMs } : {}) }, log: { level: 'info', format: 'json' }, plugins: { comfyui: { backends } } };
  await writeFile(configFile, JSON.stringify(config));
  // BENCH_SERVER_NODE_ARGS: node flags for the bridge, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
  const extra = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const node = [process.execPath, ...extra, join(root, 'bin/comfy-bridge.js'), 'serve', '--config', configFile, ...(options.dataDir ? ['--data-dir', options.dataDir] : [])];
  const command = existsSync('/usr/bin/taskset') ? ['taskset', '-c', '0', ...node] : node;
  const started = performance.now();
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...options.env }, cwd: configDir });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let buffered = '';
      child.stdout.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        const match = /"url":"([^"]+)","port":\d+,.*"msg":"listening"/.exec(buffered);
        if (match) resolve(match[1]!);
        else if (buffered.length > 1 << 20) buffered = buffered.slice(buffered.lastIndexOf('\n') + 1);
      });
      child.once('exit', (code) => reject(new Error(`the bridge exited with ${code} before listening`)));
    });
    const listening = performance.now();
    for (;;) {
      const ok = await fetch(`${url}/health`).then(
        (response) => response.status === 200,
        () => false,
      );
      if (ok) break;
      if (performance.now() - started > 300_000) throw new Error('/health did not answer 200 within 300 s');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const healthy = performance.now();
    const [cpu, rss] = [await cpuOf(child.pid!), await rssOf(child.pid!)];
    child.stdout.resume();
    const stopping = performance.now();
    child.kill('SIGTERM');
    await exited;
    return {
      to_listening_s: round((listening - started) / 1000, 3),
      to_health_s: round((healthy - started) / 1000, 3),
      cpu_s: round(cpu, 2),
      rss_mib: round(rss / 1024 / 1024, 1),
      stop_s: round((performance.now() - stopping) / 1000, 3),
    };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    await rm(configDir, { recursive: true, force: true });
  }
}

export async function run(): Promise<Record<string, number>> {
  const root = await scratchDir('bench-p6-');
  try {
    const empty = join(root, 'empty');
    const current = join(root, 'rows');
    await mkdir(empty);
    const currentBytes = await fillDataDir(current, ROWS, false);
    const prefix = (name: string, values: Record<string, number>) => Object.fromEntries(Object.entries(values).map(([k, v]) => [`${name}_${k}`, v]));
    // A compaction may rewrite the datafile (legacy rows lose their graph on disk then), so every
    // start of the legacy dir after the first could measure the new format: start a fresh copy each time.
    // BENCH_P6_COMPARE=<checkout>: that checkout's CLI on the same data dirs in the same rounds, interleaved (before/after).
    const compare = process.env.BENCH_P6_COMPARE;
    const result = await medianOf3(async () => {
      const legacyCopy = join(root, `legacy-${Date.now()}`);
      const legacyBytes = await fillDataDir(legacyCopy, ROWS, true);
      const result = {
        ...prefix('empty', await startCli({ dataDir: empty })),
        ...(compare ? prefix('compare_empty', await startCli({ root: compare, dataDir: empty })) : {}),
        ...prefix('rows100k', await startCli({ dataDir: current })),
        ...(compare ? prefix('compare_rows100k', await startCli({ root: compare, dataDir: current })) : {}),
        ...prefix('legacy100k', await startCli({ dataDir: legacyCopy })),
        rows100k_datafile_mib: round(currentBytes / 1024 / 1024, 1),
        legacy100k_datafile_mib: round(legacyBytes / 1024 / 1024, 1),
      };
      await rm(legacyCopy, { recursive: true, force: true });
      return result;
    });
    if (process.env.BENCH_P6_MILLION === '0') return result;
    const million = join(root, 'million');
    const millionBytes = await fillDataDir(million, 1_000_000, false);
    return { ...result, ...prefix('rows1m', await startCli({ dataDir: million })), rows1m_datafile_mib: round(millionBytes / 1024 / 1024, 1) };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${JSON.stringify(await run())}\n`);
}
