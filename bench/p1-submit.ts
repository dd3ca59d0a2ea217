/**
 * P1: submitting a generation through the bridge (POST /generate-based-workflow, file store on) against
 * posting the same graph straight to the fake ComfyUI (POST /prompt), in the same run.
 *  - c=1: an own sequential loop (keep-alive agent, hrtime per request); the bridge's added p50/p99,
 *    against both fakes below (with zero-duration nodes the previous generation's end is handled
 *    while the next is submitted, and lands in its latency).
 *  - c=50: autocannon; submissions/s of each, twice: against a fake with zero-duration nodes (every
 *    generation also runs to its end during the measurement: results copied, state persisted — the
 *    whole life of a generation per second), and against a second fake whose nodes last a minute
 *    (prompts wait in ComfyUI's queue, as they do in production where the GPU is the bottleneck:
 *    submissions alone).
 * Every bridge request carries a fresh clientId, so the per-client cap (10 active) never answers 429.
 * The bridge runs alone on core 0; the fake ComfyUI (zero-duration nodes) and the load generator share
 * core 1. The graph is the repo's text-to-image workflow at 64×64 and 1 step, the same for every
 * request, so after the first run the fake serves every node from its cache: what is measured is
 * submission, not the fake's execution. Between phases both queues drain.
 * Run alone: `npx tsx bench/p1-submit.ts`; the last line printed is the JSON result.
 */
import autocannon from 'autocannon';
import { randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { pinSelf, startServerProcess } from './lib/process.js';
import { medianOf3, percentile, round } from './lib/stats.js';
import { scratchDir } from './lib/scratch.js';

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

const SEQUENTIAL = 300;
const WARMUP = 30;
const LOAD_SECONDS = 3;
const CONNECTIONS = 50;

/** The designated inputs the bridge request sets; the direct graph gets the same values. */
const INPUTS = { '5/width': 64, '5/height': 64, '3/steps': 1 } as const;

async function directGraph(): Promise<Record<string, { inputs: Record<string, unknown> }>> {
  const graph = JSON.parse(await readFile(here('../workflows/text-to-image.json'), 'utf8')) as Record<string, { inputs: Record<string, unknown> }>;
  for (const [key, value] of Object.entries(INPUTS)) {
    const [node, input] = key.split('/') as [string, string];
    graph[node]!.inputs[input] = value;
  }
  return graph;
}

interface Target {
  url: string;
  path: () => string;
  body: () => string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function post(target: Target): Promise<number> {
  const url = new URL(target.path(), target.url);
  const body = target.body();
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.once('end', () => {
          if (res.statusCode !== 200) reject(new Error(`${url.pathname}: HTTP ${res.statusCode}`));
          else resolve(Number(process.hrtime.bigint() - started) / 1e6);
        });
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}

async function sequential(target: Target): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < WARMUP; i++) await post(target);
  const samples: number[] = [];
  for (let i = 0; i < SEQUENTIAL; i++) samples.push(await post(target));
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

async function loaded(target: Target, seconds = LOAD_SECONDS): Promise<number> {
  const result = await autocannon({
    url: target.url,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [{ method: 'POST', headers: { 'content-type': 'application/json' }, setupRequest: (req) => ({ ...req, path: target.path(), body: target.body() }) }],
  });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${target.url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return result.requests.average;
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.json().catch(() => null) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Drops the prompts the direct baseline left queued in the fake (the bridge tracks none of them). */
async function clearDirectBacklog(fakeUrl: string): Promise<void> {
  const response = await fetch(`${fakeUrl}/queue`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"clear":true}' });
  if (response.status !== 200) throw new Error(`POST /queue {clear} answered ${response.status}`);
}

/** Waits until the fake's queue is empty and the bridge has nothing queued or running. */
async function drain(fakeUrl: string, bridgeUrl: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const queue = (await getJson(`${fakeUrl}/queue`)).body as { queue_running: unknown[]; queue_pending: unknown[] };
    const counts = (await getJson(`${bridgeUrl}/generation-count`)).body as { by_status: Record<string, number> };
    if (queue.queue_running.length + queue.queue_pending.length === 0 && counts.by_status.queued! + counts.by_status.running! === 0) return;
    await sleep(100);
  }
  throw new Error('the fake ComfyUI and the bridge did not drain within 120 s');
}

async function waitReady(bridgeUrl: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((await getJson(`${bridgeUrl}/ready`)).status !== 200) {
    if (Date.now() > deadline) throw new Error('the bridge did not become ready (backend connected) within 30 s');
    await sleep(100);
  }
}

export async function run(): Promise<Record<string, number>> {
  pinSelf(1);
  const dataDir = await scratchDir('bench-p1-');
  const queuedDataDir = await scratchDir('bench-p1q-');
  const fake = await startServerProcess(here('./servers/fake-comfy.ts'), [], 1, { BENCH_NODE_MS: '0' });
  const bridge = await startServerProcess(here('./servers/bridge.ts'), [], 0, { BENCH_BACKENDS: fake.url, BENCH_DATA_DIR: dataDir });
  const slowFake = await startServerProcess(here('./servers/fake-comfy.ts'), [], 1, { BENCH_NODE_MS: '60000' });
  const queuedBridge = await startServerProcess(here('./servers/bridge.ts'), [], 0, { BENCH_BACKENDS: slowFake.url, BENCH_DATA_DIR: queuedDataDir });
  try {
    await waitReady(bridge.url);
    await waitReady(queuedBridge.url);
    const graph = await directGraph();
    const direct = (url: string): Target => ({
      url,
      path: () => '/prompt',
      body: () => JSON.stringify({ prompt: graph, client_id: 'bench-direct', prompt_id: randomUUID() }),
    });
    let client = 0;
    const throughBridge = (url: string): Target => ({
      url,
      path: () => `/generate-based-workflow?clientId=bench-${(client++).toString(36)}`,
      body: () => JSON.stringify({ workflow: 'text-to-image', ...INPUTS }),
    });
    // One second of load on each first: the first seconds under concurrency run colder code.
    for (const target of [direct(fake.url), throughBridge(bridge.url), direct(slowFake.url), throughBridge(queuedBridge.url)]) await loaded(target, 1);
    await clearDirectBacklog(fake.url);
    await drain(fake.url, bridge.url);
    return await medianOf3(async () => {
      const directC1 = await sequential(direct(fake.url));
      await drain(fake.url, bridge.url);
      const bridgeC1 = await sequential(throughBridge(bridge.url));
      await drain(fake.url, bridge.url);
      const directRps = await loaded(direct(fake.url));
      await clearDirectBacklog(fake.url);
      await drain(fake.url, bridge.url);
      const bridgeRps = await loaded(throughBridge(bridge.url));
      await drain(fake.url, bridge.url);
      const directQueuedC1 = await sequential(direct(slowFake.url));
      const bridgeQueuedC1 = await sequential(throughBridge(queuedBridge.url));
      const directQueuedRps = await loaded(direct(slowFake.url));
      const bridgeQueuedRps = await loaded(throughBridge(queuedBridge.url));
      return {
        direct_c1_p50_ms: round(directC1.p50, 3),
        direct_c1_p99_ms: round(directC1.p99, 3),
        bridge_c1_p50_ms: round(bridgeC1.p50, 3),
        bridge_c1_p99_ms: round(bridgeC1.p99, 3),
        added_c1_p50_ms: round(bridgeC1.p50 - directC1.p50, 3),
        added_c1_p99_ms: round(bridgeC1.p99 - directC1.p99, 3),
        added_c1_queued_p50_ms: round(bridgeQueuedC1.p50 - directQueuedC1.p50, 3),
        added_c1_queued_p99_ms: round(bridgeQueuedC1.p99 - directQueuedC1.p99, 3),
        direct_c50_per_s: round(directRps, 0),
        bridge_c50_lifecycle_per_s: round(bridgeRps, 0),
        direct_c50_queued_per_s: round(directQueuedRps, 0),
        bridge_c50_queued_per_s: round(bridgeQueuedRps, 0),
      };
    });
  } finally {
    agent.destroy();
    for (const server of [bridge, queuedBridge, fake, slowFake]) await server.stop();
    await rm(dataDir, { recursive: true, force: true });
    await rm(queuedDataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${JSON.stringify(await run())}\n`);
}
