/**
 * History paging benchmark of storage-nedb (file mode, temp dir): fills 10k and 100k generations,
 * then measures the newest page, a deep offset page and a per-client page (p50/p95 over many runs),
 * the cold open of the 100k store, and RSS. Last line of output: the results as JSON.
 *   npx tsx bench/history.ts
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rm, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Generation, GenerationState } from '../contracts/generation.js';
import type { Graph } from '../contracts/graph.js';
import type { HistoryQuery } from '../contracts/storage.js';
import { datafilePath, NedbStorage } from '../plugins/storage-nedb/nedb-storage.js';
import { generationRecord } from '../test/helpers/generation.js';
import { scratchDir } from './lib/scratch.js';

const CLIENTS = 200;
const RUNS = 300;
const silentLog = { warn: () => undefined, info: () => undefined };

/** A text-to-image graph of realistic size (~1.5 KB as JSON). */
export const GRAPH: Graph = {
  '3': { class_type: 'KSampler', inputs: { seed: 42, steps: 20, cfg: 8, sampler_name: 'euler', scheduler: 'normal', denoise: 1, model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] } },
  '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'v1-5-pruned-emaonly.safetensors' } },
  '5': { class_type: 'EmptyLatentImage', inputs: { width: 512, height: 512, batch_size: 1 } },
  '6': { class_type: 'CLIPTextEncode', inputs: { text: 'beautiful scenery nature glass bottle landscape, purple galaxy bottle', clip: ['4', 1] }, _meta: { title: 'CLIP Text Encode (Prompt)' } },
  '7': { class_type: 'CLIPTextEncode', inputs: { text: 'text, watermark', clip: ['4', 1] }, _meta: { title: 'CLIP Text Encode (Negative)' } },
  '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
  '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'ComfyUI', images: ['8', 0] } },
};

const STATES: GenerationState[] = ['completed', 'completed', 'completed', 'completed', 'failed', 'interrupted'];

export function generation(i: number): Generation {
  const createdAt = new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString();
  const state = STATES[i % STATES.length] as GenerationState;
  return generationRecord({
    id: `gen_${i.toString(36).padStart(8, '0')}`,
    createdAt,
    clientId: `client-${i % CLIENTS}`,
    workflow: i % 3 === 0 ? 'image-to-image' : 'text-to-image',
    state,
    promptId: `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`,
    backend: 'local',
    graph: GRAPH,
    startedAt: createdAt,
    finishedAt: createdAt,
    position: 0,
    percent: 100,
    totalNodes: 7,
    doneNodes: ['4', '5', '6', '7', '3', '8', '9'],
    results: state === 'completed' ? [{ filename: `ComfyUI_${i}_.png`, contentType: 'image/png', size: 400000, node: '9', kind: 'images' }] : [],
    error: state === 'completed' ? null : 'Input image not found',
    attempts: 1,
  });
}

function percentile(sorted: number[], p: number): number {
  const at = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return Number((sorted[Math.max(0, at)] as number).toFixed(3));
}

async function timeQuery(storage: NedbStorage, query: HistoryQuery): Promise<{ p50: number; p95: number }> {
  for (let i = 0; i < 20; i++) await storage.generations.page(query); // warm-up
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = process.hrtime.bigint();
    await storage.generations.page(query);
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p95: percentile(samples, 95) };
}

/** Inserts through the store's own insert path, in concurrent batches (nedb queues them). */
async function fill(storage: NedbStorage, from: number, to: number): Promise<void> {
  const BATCH = 500;
  for (let start = from; start < to; start += BATCH) {
    const batch: Promise<void>[] = [];
    for (let i = start; i < Math.min(to, start + BATCH); i++) batch.push(storage.generations.insert(generation(i)));
    await Promise.all(batch);
  }
}

async function measure(storage: NedbStorage, rows: number) {
  return {
    rows,
    newestPage: await timeQuery(storage, { limit: 10, offset: 0 }),
    deepOffsetPage: await timeQuery(storage, { limit: 10, offset: Math.floor(rows * 0.9) }),
    perClientPage: await timeQuery(storage, { limit: 10, offset: 0, clientId: 'client-7' }),
    perClientStatusPage: await timeQuery(storage, { limit: 10, offset: 20, clientId: 'client-7', state: 'failed' }),
  };
}

const mb = (bytes: number) => Number((bytes / 1024 / 1024).toFixed(1));

export async function run() {
  const dataDir = await scratchDir('bench-history-');
  try {
    const storage = await NedbStorage.open({ dataDir, inMemory: false, log: silentLog });
    let started = Date.now();
    await fill(storage, 0, 10_000);
    const fill10kMs = Date.now() - started;
    const at10k = await measure(storage, 10_000);
    console.log(`10k: filled in ${fill10kMs} ms`, JSON.stringify(at10k));

    started = Date.now();
    await fill(storage, 10_000, 100_000);
    const fill100kMs = fill10kMs + Date.now() - started;
    const at100k = await measure(storage, 100_000);
    console.log(`100k: filled in ${fill100kMs} ms`, JSON.stringify(at100k));
    await storage.close();

    const datafileMb = mb((await stat(datafilePath(dataDir, 'generations'))).size);
    const cold = await coldOpenInChild(dataDir);
    return { bench: 'history', at10k, at100k, fill10kMs, fill100kMs, datafileMb, ...cold };
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

/**
 * A cold start is measured in a fresh process: the open time and the RSS of a process that holds
 * the 100k store, without this process's fill garbage.
 */
async function coldOpenInChild(dataDir: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--cold-open', dataDir], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`cold-open child exited with ${code}`);
  return JSON.parse(out.trim().split('\n').at(-1) as string) as Record<string, unknown>;
}

async function coldOpen(dataDir: string) {
  const started = Date.now();
  const storage = await NedbStorage.open({ dataDir, inMemory: false, log: silentLog });
  const coldOpen100kMs = Date.now() - started;
  const afterColdOpen = await measure(storage, storage.generations.size);
  const { rss, heapUsed } = process.memoryUsage();
  await storage.close();
  return { coldOpen100kMs, afterColdOpen, rssMb: mb(rss), heapUsedMb: mb(heapUsed) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const coldDir = process.argv.indexOf('--cold-open');
  const result = coldDir === -1 ? await run() : await coldOpen(process.argv[coldDir + 1] as string);
  console.log(JSON.stringify(result));
}
