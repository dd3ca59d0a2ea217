/**
 * P6: cold start of a bridge (default plugins, file store) on a data dir holding 100k finished
 * generations, against the same bridge on an empty data dir in the same run: time from spawn to
 * `LISTENING` and to the first 200 from /health, the RSS once it answers, and the stop (SIGTERM to
 * exit). The same once on a data dir of 1M rows (BENCH_P6_MILLION=0 leaves it out), with the
 * default register deadline. A third data dir holds
 * the same 100k rows as written before final rows dropped their graph ("legacy rows"), which is
 * what an upgraded deployment opens first. The datafiles are written directly, line by line, in the
 * store's own format (generation-store's toDoc, one JSON line per row; legacy: plus the counters datafile), which
 * takes a second instead of a minute of inserts. Median of 3 starts each.
 * Run alone: `npx tsx bench/p6-cold-start.ts`; the last line printed is the JSON result.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { GENERATION_STATES, type GenerationState } from '../contracts/generation.js';
import { toDoc } from '../plugins/storage-nedb/generation-store.js';
import { datafilePath } from '../plugins/storage-nedb/nedb-storage.js';
import { generation, GRAPH } from './history.js';
import { medianOf3, round } from './lib/stats.js';

const ROWS = 100_000;
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

/** Writes `rows` generations as storage-nedb would have left them after a compaction (legacy: with the counters datafile of that time). */
async function fillDataDir(dataDir: string, rows: number, legacyGraphs: boolean): Promise<number> {
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

/** One start: spawn → LISTENING → first 200 from /health, then RSS; the process is stopped after. */
async function startOnce(dataDir: string): Promise<Record<string, number>> {
  const node = [process.execPath, '--import', 'tsx', here('./servers/bridge.ts')];
  const command = existsSync('/usr/bin/taskset') ? ['taskset', '-c', '0', ...node] : node;
  const started = performance.now();
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, BENCH_DATA_DIR: dataDir } });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let buffered = '';
      child.stdout.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        const match = /LISTENING (\S+)/.exec(buffered);
        if (match) resolve(match[1]!);
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
    const rss = await rssOf(child.pid!);
    const stopping = performance.now();
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    return {
      to_listening_s: round((listening - started) / 1000, 3),
      to_health_s: round((healthy - started) / 1000, 3),
      rss_mib: round(rss / 1024 / 1024, 1),
      stop_s: round((performance.now() - stopping) / 1000, 3),
    };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
}

export async function run(): Promise<Record<string, number>> {
  const root = await mkdtemp(join(tmpdir(), 'bench-p6-'));
  try {
    const empty = join(root, 'empty');
    const current = join(root, 'rows');
    await mkdir(empty);
    const currentBytes = await fillDataDir(current, ROWS, false);
    const prefix = (name: string, values: Record<string, number>) => Object.fromEntries(Object.entries(values).map(([k, v]) => [`${name}_${k}`, v]));
    // A compaction may rewrite the datafile (legacy rows lose their graph on disk then), so every
    // start of the legacy dir after the first could measure the new format: start a fresh copy each time.
    const result = await medianOf3(async () => {
      const legacyCopy = join(root, `legacy-${Date.now()}`);
      const legacyBytes = await fillDataDir(legacyCopy, ROWS, true);
      const result = {
        ...prefix('empty', await startOnce(empty)),
        ...prefix('rows100k', await startOnce(current)),
        ...prefix('legacy100k', await startOnce(legacyCopy)),
        rows100k_datafile_mib: round(currentBytes / 1024 / 1024, 1),
        legacy100k_datafile_mib: round(legacyBytes / 1024 / 1024, 1),
      };
      await rm(legacyCopy, { recursive: true, force: true });
      return result;
    });
    if (process.env.BENCH_P6_MILLION === '0') return result;
    const million = join(root, 'million');
    const millionBytes = await fillDataDir(million, 1_000_000, false);
    return { ...result, ...prefix('rows1m', await startOnce(million)), rows1m_datafile_mib: round(millionBytes / 1024 / 1024, 1) };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${JSON.stringify(await run())}\n`);
}
