/**
 * P2: read routes of the bridge (/workflow-list, /workflow-info, /health) against a bare Koa hello-world in
 * the same run, each server pinned to core 0 and autocannon to core 1. Target: ≥ 0.8 of bare Koa.
 * A second baseline answers each route's exact bytes from one middleware: autocannon on one core is
 * itself the limit for the larger bodies, so this separates the bridge's own cost from the bytes.
 * The bridge has its backend up (the fake ComfyUI, zero-duration nodes, on core 1), as in production:
 * /workflow-info is then enriched from /object_info, and availability known.
 * BENCH_P2_COMPARE=<another checkout> measures that checkout's bridge too, right after this one's on
 * every route (before/after in one run).
 * Each side's CPU time per request is read from /proc around its run: on a loaded machine requests/s
 * mostly say how much of its core a process was given, while CPU per request is what it costs.
 */
import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pinSelf, startServerProcess, type ServerProcess } from './lib/process.js';
import { medianOf3, round } from './lib/stats.js';
import { scratchDir } from './lib/scratch.js';

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

/** User + system CPU time of a process so far, in µs (Linux /proc; NaN elsewhere). */
function cpuMicros(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100;
  } catch {
    return NaN;
  }
}

/** Requests/s of one server, and its CPU µs per request over the same run. */
async function measure(server: ServerProcess, path: string): Promise<{ rps: number; cpuUs: number }> {
  const url = `${server.url}${path}`;
  const before = cpuMicros(server.child.pid!);
  const result = await autocannon({ url, connections: 50, duration: 4, pipelining: 1 });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return { rps: result.requests.average, cpuUs: (cpuMicros(server.child.pid!) - before) / result.requests.total };
}

const ROUTES = { health: '/health', workflow_list: '/workflow-list', workflow_info: '/workflow-info?workflow=text-to-image' };

/** Until the bridge has its backend (so the answers are the enriched ones a deployment sends). */
async function waitReady(url: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((await fetch(`${url}/ready`)).status !== 200) {
    if (Date.now() > deadline) throw new Error(`${url}: not ready within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function run(): Promise<Record<string, number>> {
  pinSelf(1);
  const fake = await startServerProcess(here('./servers/fake-comfy.ts'), [], 1, { BENCH_NODE_MS: '0' });
  const bridge = await startServerProcess(here('./servers/bridge.ts'), [], 0, { BENCH_BACKENDS: fake.url });
  const compareDir = process.env.BENCH_P2_COMPARE;
  const compare = compareDir ? await startServerProcess(join(compareDir, 'bench/servers/bridge.ts'), [], 0, { BENCH_BACKENDS: fake.url }) : undefined;
  for (const server of compare ? [bridge, compare] : [bridge]) await waitReady(server.url);
  const dir = await scratchDir('cb-bench-p2-');
  const bodies: Record<string, string> = {};
  for (const path of Object.values(ROUTES)) bodies[path.split('?')[0]!] = await (await fetch(`${bridge.url}${path}`)).text();
  await writeFile(join(dir, 'bodies.json'), JSON.stringify(bodies));
  const bare = await startServerProcess(here('./servers/bare-koa.ts'), [], 0, { BARE_BODIES: join(dir, 'bodies.json') });
  try {
    // Warm-up: without it the first route of the first round also pays for the JIT and the end of start-up.
    const warm = (url: string) => autocannon({ url, connections: 50, duration: 1 });
    await warm(`${bare.url}/`);
    for (const path of Object.values(ROUTES)) for (const server of [bare, bridge, ...(compare ? [compare] : [])]) await warm(`${server.url}${path}`);
    return await medianOf3(async () => {
      // Interleaved: each route is compared with a bare-Koa baseline taken right before it, in the same
      // run, so a machine that slows down (or speeds up) halfway cannot tip one route's verdict.
      const baselines: number[] = [];
      const metrics: Record<string, number> = {};
      for (const [name, path] of Object.entries(ROUTES)) {
        const { rps: baseline, cpuUs: baselineCpu } = await measure(bare, '/');
        baselines.push(baseline);
        const { rps, cpuUs } = await measure(bridge, path);
        const { rps: sameBytes, cpuUs: sameBytesCpu } = await measure(bare, path);
        if (compare) {
          const before = await measure(compare, path);
          metrics[`${name}_compare_rps`] = round(before.rps, 0);
          metrics[`${name}_compare_ratio`] = round(before.rps / baseline, 3);
          metrics[`${name}_compare_cpu_us`] = round(before.cpuUs, 1);
          metrics[`${name}_compare_cpu_ratio`] = round(baselineCpu / before.cpuUs, 3);
        }
        // CPU ratio as a throughput ratio: bare Koa's CPU per request over the bridge's (0.8 = 1.25× the CPU).
        metrics[`${name}_bare_koa_cpu_us`] = round(baselineCpu, 1);
        metrics[`${name}_cpu_us`] = round(cpuUs, 1);
        metrics[`${name}_cpu_ratio`] = round(baselineCpu / cpuUs, 3);
        metrics[`${name}_bare_koa_rps`] = round(baseline, 0);
        metrics[`${name}_rps`] = round(rps, 0);
        metrics[`${name}_same_bytes_rps`] = round(sameBytes, 0);
        metrics[`${name}_ratio`] = round(rps / baseline, 3);
        metrics[`${name}_same_bytes_ratio`] = round(rps / sameBytes, 3);
        // The same-bytes server's CPU per request: its requests/s swing with the load generator's share of core 1.
        metrics[`${name}_same_bytes_cpu_us`] = round(sameBytesCpu, 1);
        metrics[`${name}_same_bytes_cpu_ratio`] = round(sameBytesCpu / cpuUs, 3);
      }
      metrics.bare_koa_rps = round(baselines.reduce((a, b) => a + b, 0) / baselines.length, 0);
      return metrics;
    });
  } finally {
    await bare.stop();
    await bridge.stop();
    await compare?.stop();
    await fake.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${JSON.stringify(await run())}\n`);
}
