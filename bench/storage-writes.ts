/**
 * The submission path's storage cost (storage-nedb, file store, temp dir): one generation's life as
 * the generations service writes it — insert (queued: the write the POST answer waits for), then
 * running with its position, one progress write, completed — timed at the store, one life at a time
 * (c=1) and eight lives at once (c=8), with the datafiles fsynced per batch (the default) and not.
 * Reports ms per life, the insert's own latency (p50/p99), CPU per life, and lives/s at c=8.
 * Last line of output: the results as JSON.   npx tsx bench/storage-writes.ts
 * BENCH_P5_COMPARE=<checkout> measures that checkout's storage-nedb too, in the same run, each
 * measurement right after this tree's (keys prefixed `compare_`): before/after on one loaded machine.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { NedbStorage } from '../plugins/storage-nedb/nedb-storage.js';
import { generationRecord } from '../test/helpers/generation.js';
import { GRAPH } from './history.js';
import { percentile, round } from './lib/stats.js';
import { scratchDir } from './lib/scratch.js';

const LIVES = 400;
const silentLog = { warn: () => undefined, info: () => undefined };
const COMPARE = process.env.BENCH_P5_COMPARE;

/** The part of NedbStorage a life uses (this tree's, or the compared checkout's). */
type Store = Pick<NedbStorage, 'generations' | 'close'>;
type OpenStore = (options: { dataDir: string; inMemory: false; log: typeof silentLog; sync: boolean }) => Promise<Store>;

async function opener(checkout: string | undefined): Promise<OpenStore> {
  if (checkout === undefined) return (options) => NedbStorage.open(options);
  const module = (await import(pathToFileURL(join(checkout, 'plugins/storage-nedb/nedb-storage.ts')).href)) as { NedbStorage: { open: OpenStore } };
  return (options) => module.NedbStorage.open(options);
}

let seq = 0;
async function life(storage: Store, insertMs: number[]): Promise<void> {
  const n = ++seq;
  const createdAt = new Date(Date.UTC(2026, 0, 1) + n).toISOString();
  const id = `gen_w${n.toString(36)}`;
  const started = performance.now();
  await storage.generations.insert(generationRecord({ id, createdAt, promptId: `p-${n}`, clientId: `c-${n % 50}`, graph: GRAPH, totalNodes: 7 }));
  insertMs.push(performance.now() - started);
  await storage.generations.update(id, { state: 'running', position: 0, startedAt: createdAt, backend: 'local', attempts: 1 });
  await storage.generations.update(id, { percent: 50, node: '3', step: 10, maxSteps: 20 });
  await storage.generations.update(id, {
    state: 'completed',
    percent: 100,
    finishedAt: createdAt,
    results: [{ filename: `ComfyUI_${n}_.png`, contentType: 'image/png', size: 400000, node: '9', kind: 'images' }],
  });
}

async function measure(open: OpenStore, sync: boolean, concurrency: number): Promise<Record<string, number>> {
  const dataDir = await scratchDir('bench-writes-');
  const storage = await open({ dataDir, inMemory: false, log: silentLog, sync });
  try {
    const warm: number[] = [];
    for (let i = 0; i < 20; i++) await life(storage, warm);
    const insertMs: number[] = [];
    const cpu = process.cpuUsage();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let i = 0; i < LIVES / concurrency; i++) await life(storage, insertMs);
      }),
    );
    const wallMs = performance.now() - started;
    const used = process.cpuUsage(cpu);
    insertMs.sort((a, b) => a - b);
    return {
      ms_per_life: round(wallMs / LIVES, 3),
      lives_per_s: round((LIVES / wallMs) * 1000, 0),
      cpu_ms_per_life: round((used.user + used.system) / 1000 / LIVES, 3),
      insert_p50_ms: round(percentile(insertMs, 50), 3),
      insert_p99_ms: round(percentile(insertMs, 99), 3),
    };
  } finally {
    await storage.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

let runs = 0;

export async function run(): Promise<Record<string, number>> {
  const sides: [string, OpenStore][] = [['', await opener(undefined)]];
  if (COMPARE) sides.push(['compare_', await opener(COMPARE)]);
  // The side that goes first alternates between runs (the first measurement of a pair can differ).
  if (runs++ % 2 === 1) sides.reverse();
  const result: Record<string, number> = {};
  for (const sync of [true, false]) {
    for (const concurrency of [1, 8]) {
      for (const [prefix, open] of sides) {
        const values = await measure(open, sync, concurrency);
        for (const [key, value] of Object.entries(values)) result[`${prefix}${sync ? 'sync' : 'nosync'}_c${concurrency}_${key}`] = value;
      }
    }
  }
  return result;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${JSON.stringify(await run())}\n`);
}
