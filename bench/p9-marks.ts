/**
 * Where a generation's time goes inside the bridge, step by step: P9's c=1 life (the tiny workflow against the
 * fake ComfyUI) with marks recorded in the bridge process (contracts/life-marks.ts and node's HTTP diagnostics
 * channels, through the preload bench/lib/life-marks.mjs). For each mark: in how many lives it appeared, its
 * p50 time after the request's headers were read, and the p50 of the gap from the mark before it in the same
 * life (marks ordered by their p50). A mark seen several times in a life is numbered (#2, #3…).
 * Run: `npx tsx bench/p9-marks.ts` (after `npm run build`); BENCH_P9_MARKS_LIVES (300) lives after 20 of warm-up.
 * BENCH_P9_COMPARE=<checkout> traces that checkout's bridge too (only node's HTTP marks if it has no life marks).
 * Not part of `npm run bench`: a diagnostic for the lifecycle work (docs/performance.md, wave 7).
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pinSelf, startServerProcess, type ServerProcess } from './lib/process.js';
import { percentile, round } from './lib/stats.js';
import { agent, bridgeSide, directSide, fakeDir, localOutputDir, sequentialRound, startBridge, tinyGraph } from './p9-lifecycle.js';
import { scratchDir } from './lib/scratch.js';

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const LIVES = Number(process.env.BENCH_P9_MARKS_LIVES ?? 300);
const WARM = 20;
const START = 'in: POST /generate-based-workflow';

const median = (values: number[]) => percentile([...values].sort((a, b) => a - b), 50);

/** The marks of each life (split at each request to the generate route), as name → ms after that request. */
function lives(flat: (string | number)[]): Map<string, number>[] {
  const out: Map<string, number>[] = [];
  let life: Map<string, number> | undefined;
  let t0 = 0;
  for (let i = 0; i < flat.length; i += 2) {
    const name = (flat[i] as string).split('?')[0]!;
    const t = flat[i + 1] as number;
    if (name === START) {
      life = new Map();
      t0 = t;
      out.push(life);
    }
    if (!life) continue;
    let key = name;
    for (let n = 2; life.has(key); n++) key = `${name} #${n}`;
    life.set(key, round(t - t0, 3));
  }
  return out.slice(WARM);
}

function table(all: Map<string, number>[]): { mark: string; seen: number; at: number; gap: number | null }[] {
  const names = new Set<string>();
  for (const life of all) for (const name of life.keys()) names.add(name);
  const rows = [...names].map((mark) => {
    const at = all.map((life) => life.get(mark)).filter((t): t is number => t !== undefined);
    return { mark, seen: at.length, at: round(median(at), 3) };
  });
  // Only marks in at least half the lives; ordered by when they happen.
  const kept = rows.filter((row) => row.seen >= all.length / 2).sort((a, b) => a.at - b.at);
  return kept.map((row, i) => {
    const previous = kept[i - 1];
    const gaps = previous ? all.flatMap((life) => (life.has(row.mark) && life.has(previous.mark) ? [life.get(row.mark)! - life.get(previous.mark)!] : [])) : [];
    return { ...row, gap: previous ? round(median(gaps), 3) : null };
  });
}

async function trace(checkout: string, name: string, comfyUrl: string, dataDir: string, workflowsDir: string, outputDir?: string): Promise<{ rows: ReturnType<typeof table>; answered: number; closed: number }> {
  const marksFile = join(dataDir, `${name}-marks.json`);
  const previous = process.env.BENCH_SERVER_NODE_ARGS;
  process.env.BENCH_SERVER_NODE_ARGS = `${previous ?? ''} --import ${here('./lib/life-marks.mjs')}`;
  process.env.BENCH_LIFE_MARKS = marksFile;
  let bridge: ServerProcess;
  try {
    bridge = await startBridge(checkout, comfyUrl, join(dataDir, `data-${name}`), workflowsDir, outputDir);
  } finally {
    if (previous === undefined) delete process.env.BENCH_SERVER_NODE_ARGS;
    else process.env.BENCH_SERVER_NODE_ARGS = previous;
    delete process.env.BENCH_LIFE_MARKS;
  }
  const client = await bridgeSide(bridge.url, name).client(0);
  const measured: Awaited<ReturnType<typeof client.life>>[] = [];
  try {
    await sequentialRound(client, WARM + LIVES, measured);
  } finally {
    client.close();
    await bridge.stop();
  }
  const flat = JSON.parse(await readFile(marksFile, 'utf8')) as (string | number)[];
  const kept = measured.slice(WARM);
  const all = lives(flat);
  // BENCH_P9_MARKS_RAW=1: one life's marks as they came, to read the numbered ones.
  if (process.env.BENCH_P9_MARKS_RAW) process.stdout.write(`${JSON.stringify([...all[all.length >> 1]!])}\n`);
  return { rows: table(all), answered: round(median(kept.map((l) => l.answered)), 3), closed: round(median(kept.map((l) => l.done)), 3) };
}

async function main(): Promise<void> {
  pinSelf(1);
  const dataDir = await scratchDir('bench-p9-marks-');
  const workflowsDir = join(dataDir, 'workflows');
  await mkdir(workflowsDir);
  await writeFile(join(workflowsDir, 'p9-tiny.json'), JSON.stringify(tinyGraph(0)));
  // BENCH_COMFY_URL: trace against a running (real) ComfyUI instead of the fake, as P10 does.
  const real = process.env.BENCH_COMFY_URL;
  const outputDir = localOutputDir(dataDir, real !== undefined);
  const fakeEnv: Record<string, string> = { BENCH_NODE_MS: '0', BENCH_FAKE_DIR: fakeDir(dataDir) };
  if (process.env.BENCH_P9_TWO_OUTPUTS !== undefined) fakeEnv.BENCH_SLEEP_NODE_MS = process.env.BENCH_P9_TWO_OUTPUTS;
  const comfy = real ? { url: real, stop: async () => undefined } : await startServerProcess(here('./servers/fake-comfy.ts'), [], 1, fakeEnv);
  try {
    const direct = await directSide(comfy.url).client(0);
    const directLives: Awaited<ReturnType<typeof direct.life>>[] = [];
    await sequentialRound(direct, WARM + LIVES, directLives);
    direct.close();
    const kept = directLives.slice(WARM);
    process.stdout.write(`direct: POST answered p50 ${round(median(kept.map((l) => l.answered)), 3)} ms, end p50 ${round(median(kept.map((l) => l.done)), 3)} ms\n`);
    const sides: [string, string][] = [[here('..'), 'bridge']];
    if (process.env.BENCH_P9_COMPARE) sides.push([process.env.BENCH_P9_COMPARE, 'compare']);
    for (const [checkout, name] of sides) {
      const { rows, answered, closed } = await trace(checkout, name, comfy.url, dataDir, workflowsDir, outputDir);
      process.stdout.write(`\n${name} (${checkout}): POST answered p50 ${answered} ms, POST → closed p50 ${closed} ms (client side), ${LIVES} lives\n`);
      process.stdout.write('| mark | lives | p50 ms after the request | p50 gap from the row above |\n|---|---|---|---|\n');
      for (const row of rows) process.stdout.write(`| ${row.mark} | ${row.seen} | ${row.at} | ${row.gap ?? ''} |\n`);
    }
  } finally {
    agent.destroy();
    await comfy.stop();
    await rm(dataDir, { recursive: true, force: true });
    if (process.env.BENCH_P9_FAKE_DIR) await rm(fakeDir(dataDir), { recursive: true, force: true });
  }
}

await main();
