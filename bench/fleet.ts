/**
 * Fleet: several bridge instances on one PostgreSQL (issue 12).
 *
 * - Cold start at BENCH_FLEET_ROWS (default 1M) stored generations: one `comfy-bridge serve` process
 *   (storage-postgres) spawned → first 200 from /health, and SIGTERM → exit; median of 3. Rows made
 *   by the server (test/helpers/postgres-rows.ts), then VACUUM ANALYZE.
 * - Throughput: 3 instances behind the round-robin proxy (test/helpers/proxy.ts), 2 fake ComfyUIs,
 *   c=50 clients submitting for BENCH_FLEET_SECONDS (default 10): acknowledged (200, recorded in
 *   PostgreSQL and POSTed to ComfyUI) submissions per second.
 * - Cross-instance frame latency: 3 instances on the PostgreSQL bus; BENCH_FLEET_LATENCY_CLIENTS (default
 *   20) clients each with a socket on instance B submit generations to instance A, one after another,
 *   BENCH_FLEET_LATENCY_GENERATIONS (default 200) in all; each frame's latency is its arrival on B's
 *   socket minus its publish time on A (bus_messages.at, taken by A just before the publishing INSERT;
 *   one machine, one clock). The sockets stay open across generations (ws closeOnDone off).
 * BENCH_FLEET_ONLY=cold|throughput|latency runs one part. PostgreSQL: the test helper's server with
 * durability back on. Run: `npx tsx bench/fleet.ts` (needs dist/: `npm run build`); the last line is JSON.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { WebSocket } from 'ws';
import { PostgresStorage } from '../plugins/storage-postgres/pg-storage.js';
import { startFakeComfy } from '../test/fake-comfyui/index.js';
import { kill, startInstance, writeFleetConfig } from '../test/helpers/fleet.js';
import { createTestDatabase, setPostgresSettings, stopPostgres } from '../test/helpers/postgres.js';
import { bulkInsertGenerations, rebuildTallies } from '../test/helpers/postgres-rows.js';
import { startRoundRobinProxy } from '../test/helpers/proxy.js';
import { generation } from './history.js';
import { median, percentile, round } from './lib/stats.js';

const ROWS = Number(process.env.BENCH_FLEET_ROWS ?? 1_000_000);
const SECONDS = Number(process.env.BENCH_FLEET_SECONDS ?? 10);
const CONCURRENCY = 50;
const LATENCY_CLIENTS = Number(process.env.BENCH_FLEET_LATENCY_CLIENTS ?? 20);
const LATENCY_GENERATIONS = Number(process.env.BENCH_FLEET_LATENCY_GENERATIONS ?? 200);
const ONLY = process.env.BENCH_FLEET_ONLY;
const runs = (part: string) => ONLY === undefined || ONLY === part;

/** Frames published on A for generations submitted there, as B's sockets receive them: ms from publish to arrival. */
async function crossInstanceLatency(dir: string, backends: string[]): Promise<Record<string, number>> {
  const db = await createTestDatabase();
  const config = await writeFleetConfig(dir, { databaseUrl: db.url, backends, plugins: { bus: false, 'bus-postgres': { url: db.url }, ws: { closeOnDone: false } } });
  const [a, b, c] = await Promise.all([0, 1, 2].map(() => startInstance(config)));
  const arrived = new Map<string, number>(); // `${topic} ${seq}` → epoch ms on arrival
  const sockets: WebSocket[] = [];
  try {
    for (let i = 0; i < LATENCY_CLIENTS; i++) {
      const ws = new WebSocket(`${b!.url.replace('http', 'ws')}/ws?clientId=lat-${i}`);
      ws.on('message', (data) => {
        const now = Date.now();
        const frame = JSON.parse(data.toString()) as { seq?: number };
        if (typeof frame.seq === 'number') arrived.set(`client:lat-${i} ${frame.seq}`, now);
      });
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      sockets.push(ws);
    }
    let next = 0;
    await Promise.all(
      Array.from({ length: LATENCY_CLIENTS }, async (_, i) => {
        while (next < LATENCY_GENERATIONS) {
          next++;
          const res = await fetch(`${a!.url}/generate-based-workflow?clientId=lat-${i}&wait=true`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ workflow: 'text-to-image', '5/width': 64, '5/height': 64, '3/steps': 2 }),
          });
          await res.arrayBuffer();
        }
      }),
    );
    // The last frames are on their way: wait until every published one arrived (or 5 s).
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    const published = async () => (await sql.query<{ topic: string; seq: string; at: string }>(`SELECT topic, seq, at FROM bus_messages WHERE topic LIKE 'client:lat-%'`)).rows;
    const until = Date.now() + 5000;
    let rows = await published();
    while (rows.some((row) => !arrived.has(`${row.topic} ${row.seq}`)) && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      rows = await published();
    }
    await sql.end();
    const latencies = rows.filter((row) => arrived.has(`${row.topic} ${row.seq}`)).map((row) => arrived.get(`${row.topic} ${row.seq}`)! - Number(row.at));
    latencies.sort((x, y) => x - y);
    return {
      generations: LATENCY_GENERATIONS,
      frames: rows.length,
      received: latencies.length,
      p50Ms: percentile(latencies, 50),
      p95Ms: percentile(latencies, 95),
      p99Ms: percentile(latencies, 99),
      maxMs: latencies.at(-1) ?? NaN,
    };
  } finally {
    for (const ws of sockets) ws.terminate();
    await Promise.all([a, b, c].map((instance) => kill(instance!, 'SIGTERM')));
    await db.drop();
  }
}

async function fill(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (let from = 1; from <= ROWS; from += 100_000) {
      await bulkInsertGenerations(client, { from, to: Math.min(ROWS, from + 99_999), template: generation(0), clients: 200, owners: 10 });
    }
    await rebuildTallies(client);
    await client.query('VACUUM ANALYZE generations');
  } finally {
    await client.end();
  }
}

async function coldStart(config: string): Promise<{ startMs: number; stopMs: number }> {
  const begun = performance.now();
  const instance = await startInstance(config);
  for (;;) {
    const status = await fetch(`${instance.url}/health`).then((r) => r.status, () => 0);
    if (status === 200) break;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const startMs = performance.now() - begun;
  const stopping = performance.now();
  await kill(instance, 'SIGTERM');
  return { startMs, stopMs: performance.now() - stopping };
}

setPostgresSettings({ fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' });
const dir = await mkdtemp(join(tmpdir(), 'bench-fleet-'));
await mkdir(join(dir, 'data'));
const fakes = [await startFakeComfy({ nodeDurationMs: 1 }), await startFakeComfy({ nodeDurationMs: 1 })];
try {
  let cold: Record<string, number> | undefined;
  let throughput: Record<string, number> | undefined;
  let latency: Record<string, number> | undefined;
  if (runs('cold')) {
    // Cold start at ROWS.
    const big = await createTestDatabase();
    await (await PostgresStorage.open({ url: big.url, healthIntervalMs: 0, log: { warn: () => undefined, info: () => undefined } })).close();
    const filling = performance.now();
    await fill(big.url);
    const fillS = round((performance.now() - filling) / 1000, 1);
    const bigConfig = await writeFleetConfig(dir, { databaseUrl: big.url, backends: fakes.map((f) => f.url) });
    const starts = [];
    for (let i = 0; i < 3; i++) starts.push(await coldStart(bigConfig));
    cold = { rows: ROWS, fillS, startMs: round(median(starts.map((s) => s.startMs)), 0), stopMs: round(median(starts.map((s) => s.stopMs)), 0) };
    console.log('cold start', cold);
    await big.drop();
  }

  if (runs('throughput')) {
    // Throughput through 3 instances.
    const db = await createTestDatabase();
    const config = await writeFleetConfig(dir, { databaseUrl: db.url, backends: fakes.map((f) => f.url) });
    const instances = await Promise.all([0, 1, 2].map(() => startInstance(config)));
    const proxy = await startRoundRobinProxy(instances.map((i) => i.url));
    for (const instance of instances) {
      while ((await fetch(`${instance.url}/ready`).then((r) => r.status, () => 0)) !== 200) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    let ok = 0;
    let refused = 0;
    const deadline = performance.now() + SECONDS * 1000;
    const began = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async (_, c) => {
        while (performance.now() < deadline) {
          const res = await fetch(`${proxy.url}/generate-based-workflow?clientId=bench-${c}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ workflow: 'text-to-image', '5/width': 64, '5/height': 64, '3/steps': 1 }),
          });
          await res.arrayBuffer();
          if (res.status === 200) ok++;
          else refused++;
        }
      }),
    );
    const elapsed = (performance.now() - began) / 1000;
    const posted = fakes.reduce((n, f) => n + f.prompts.filter((p) => p.accepted).length, 0);
    throughput = { instances: 3, concurrency: CONCURRENCY, seconds: round(elapsed, 1), acknowledged: ok, refused, perSecond: round(ok / elapsed, 0), postedToComfy: posted };
    console.log('throughput', throughput);
    await proxy.close();
    await Promise.all(instances.map((i) => kill(i, 'SIGTERM')));
    await db.drop();
  }

  if (runs('latency')) {
    latency = await crossInstanceLatency(dir, fakes.map((f) => f.url));
    console.log('cross-instance frame latency', latency);
  }
  console.log(JSON.stringify({ cold, throughput, latency }));
} finally {
  for (const fake of fakes) await fake.stop();
  await stopPostgres();
  await rm(dir, { recursive: true, force: true });
}
