/**
 * Fleet: several bridge instances on one PostgreSQL (issue 12).
 *
 * - Cold start at BENCH_FLEET_ROWS (default 1M) stored generations: one `comfy-bridge serve` process
 *   (storage-postgres) spawned → first 200 from /health, and SIGTERM → exit; median of 3. Rows made
 *   by the server (test/helpers/postgres-rows.ts), then VACUUM ANALYZE.
 * - Throughput: 3 instances on the PostgreSQL bus behind the round-robin proxy (test/helpers/proxy.ts), 2 fake ComfyUIs,
 *   c=50 clients submitting for BENCH_FLEET_SECONDS (default 10): acknowledged (200, recorded in
 *   PostgreSQL and POSTed to ComfyUI) submissions per second.
 * - Cross-instance frame latency: 3 instances on the PostgreSQL bus; BENCH_FLEET_LATENCY_CLIENTS (default
 *   20) clients each with a socket on instance B submit generations to instance A, one after another,
 *   BENCH_FLEET_LATENCY_GENERATIONS (default 200) in all; each frame's latency is its arrival on B's
 *   socket minus its publish time on A (bus_messages.at, taken by A just before the publishing INSERT;
 *   one machine, one clock). The sockets stay open across generations (ws closeOnDone off). The fakes run in
 *   processes of their own here, off the event loop that times the frames, and record when they sent each
 *   websocket event (bench/servers/fake-comfy.ts): each frame is matched to the event that caused it (causes)
 *   and also timed from that send, the moment A could first learn of it, with the stages in between.
 * It runs twice: saturated as above, and paced (BENCH_FLEET_LATENCY_RATE generations/s, default 10, started on A
 * at fixed times whatever the others do), well under A's capacity, so the bus's own path shows; both are reported.
 * The latency part also splits each frame's path at a LISTEN connection of the bench's own (A's publish up
 * to the NOTIFY; B's LISTEN, delivery and socket).
 * Switches: BENCH_FLEET_COMPARE=<checkout> (another checkout's instances in the same run, alternating),
 * BENCH_FLEET_STATEMENTS=1 (SQL statements and CPU per submission), BENCH_FLEET_QUEUED=1 (prompts stay
 * queued on the fakes), BENCH_FLEET_RATE=<n> (offered submissions/s), FLEET_NODE_ARGS (node flags of the
 * instances, e.g. --cpu-prof). See docs/performance.md, "Fleet".
 * BENCH_FLEET_ONLY=cold|throughput|latency runs one part; BENCH_FLEET_ONLY=bus (only alone) times the bus's
 * publishing without bridges: this code's publishing pipeline depth against others (busPublish);
 * BENCH_FLEET_ONLY=storage (only alone) PostgreSQL's CPU per submission's writes before and after migration 9;
 * BENCH_FLEET_ONLY=end (only alone) a generation's end, wave 9's renewal and write against wave 10's owned write;
 * BENCH_FLEET_ONLY=frames (only alone) PostgreSQL's CPU and WAL per bus frame with and without the index on bus_messages.at;
 * BENCH_FLEET_ONLY=writes (only alone, with BENCH_FLEET_COMPARE) CPU per runner write of each side's storage-postgres. PostgreSQL: the test helper's server with
 * durability back on. Run: `npx tsx bench/fleet.ts` (needs dist/: `npm run build`); the last line is JSON.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pg from 'pg';
import { WebSocket } from 'ws';
import { CHANNEL, PostgresBus, PUBLISH_DEPTH } from '../plugins/bus-postgres/pg-bus.js';
import type { Generation } from '../contracts/generation.js';
import { PostgresGenerationStore } from '../plugins/storage-postgres/generation-store.js';
import { migrate, MIGRATIONS } from '../plugins/storage-postgres/migrations.js';
import { PostgresStorage } from '../plugins/storage-postgres/pg-storage.js';
import { startFakeComfy, type FakeComfy } from '../test/fake-comfyui/index.js';
import { kill, startInstance, writeFleetConfig } from '../test/helpers/fleet.js';
import { createTestDatabase, setPostgresSettings, stopPostgres } from '../test/helpers/postgres.js';
import { bulkInsertGenerations, rebuildTallies } from '../test/helpers/postgres-rows.js';
import { startRoundRobinProxy } from '../test/helpers/proxy.js';
import { generation } from './history.js';
import { median, percentile, round } from './lib/stats.js';
import { scratchDir } from './lib/scratch.js';

const ROWS = Number(process.env.BENCH_FLEET_ROWS ?? 1_000_000);
const SECONDS = Number(process.env.BENCH_FLEET_SECONDS ?? 10);
const CONCURRENCY = 50;
const LATENCY_CLIENTS = Number(process.env.BENCH_FLEET_LATENCY_CLIENTS ?? 20);
const LATENCY_GENERATIONS = Number(process.env.BENCH_FLEET_LATENCY_GENERATIONS ?? 200);
const ONLY = process.env.BENCH_FLEET_ONLY;
/**
 * BENCH_FLEET_LATENCY_RATE (default 10; 0 turns it off): the latency part runs a second time paced, that many
 * generations/s started on A whatever the ones before did: well under A's capacity (the saturated run, its
 * 20 clients back to back, is several times that), so A's own queue is out of the figures.
 */
const LATENCY_RATE = Number(process.env.BENCH_FLEET_LATENCY_RATE ?? 10);
/** BENCH_FLEET_STATEMENTS=1: the throughput part also reports SQL statements per submission (pg_stat_statements) and CPU per submission. */
const STATEMENTS = process.env.BENCH_FLEET_STATEMENTS === '1';
const runs = (part: string) => ONLY === undefined || ONLY === part;
/** BENCH_FLEET_COMPARE=<checkout> (its dist/ built): throughput and latency also run that checkout's instances, alternating, in the same run. */
const COMPARE = process.env.BENCH_FLEET_COMPARE;
/**
 * BENCH_FLEET_QUEUED=1: the throughput part's fakes keep every prompt queued (a node lasts 10 min), as
 * a busy GPU does, so only the submission is measured, not each generation's whole life meanwhile;
 * the 429 caps are raised out of the way.
 */
const QUEUED = process.env.BENCH_FLEET_QUEUED === '1';
/**
 * BENCH_FLEET_RATE=<n>: the throughput part offers n submissions/s instead of as many as 50 clients
 * manage: CPU per submission (BENCH_FLEET_STATEMENTS) is then compared at the same load on both sides,
 * which a machine shared with other work cannot give at saturation.
 */
const RATE = Number(process.env.BENCH_FLEET_RATE ?? 0);
/** BENCH_FLEET_THROUGHPUT_BUS=memory: the throughput part's instances each on the in-process bus (as before wave 8), not bus-postgres. */
const THROUGHPUT_BUS = process.env.BENCH_FLEET_THROUGHPUT_BUS ?? 'postgres';
const SIDES: { name: string; root: string | undefined }[] = [{ name: 'this checkout', root: undefined }, ...(COMPARE ? [{ name: `compare (${COMPARE})`, root: COMPARE }] : [])];

/**
 * Frames published on A for generations submitted there, as B's sockets receive them: ms from publish to arrival.
 * rate 0: saturated (each client submits its next generation when its last one closed, all on A, so A's own
 * queue is in every figure); rate n: paced, generation k starts at k / n s whatever the others do (open loop),
 * n well under A's capacity, so what is left is the bus's own path.
 */
async function crossInstanceLatency(dir: string, fakes: FakeProcess[], root: string | undefined, rate = 0): Promise<Record<string, number>> {
  const backends = fakes.map((f) => f.url);
  const db = await createTestDatabase();
  const config = await writeFleetConfig(dir, { databaseUrl: db.url, backends, plugins: { bus: false, 'bus-postgres': { url: db.url }, ws: { closeOnDone: false } } });
  const [a, b, c] = await Promise.all([0, 1, 2].map(() => startInstance(config, root)));
  const arrived = new Map<string, number>(); // `${topic} ${seq}` → epoch ms on arrival
  const shown = new Map<string, ShownFrame>(); // the same → what the frame showed (to find the event that caused it)
  const noticed = new Map<string, number>(); // the same, when the bench's own LISTEN connection got the NOTIFY
  const sockets: WebSocket[] = [];
  // Each generation's POST (sent) and its `closed` on B's socket: the whole life, every frame's wait on A included
  // (the frame figures time from the publish call, so a wait before that call shows only here).
  const postedAt = new Map<string, number>();
  const closedAt = new Map<string, number>();
  // A LISTEN connection of the bench's own splits the path in two: A's publish up to the commit's
  // notification (pool wait, statement, commit and its WAL flush, NOTIFY delivery) and B's part
  // (B's LISTEN connection, the bus's delivery, the ws hub, the socket).
  const listen = new pg.Client({ connectionString: db.url });
  await listen.connect();
  listen.on('notification', (n) => {
    const now = performance.timeOrigin + performance.now();
    try {
      const notice = JSON.parse(n.payload ?? '') as { t?: string; s?: number };
      if (notice.t?.startsWith('client:lat-')) noticed.set(`${notice.t} ${notice.s}`, now);
    } catch {
      // not a bus notice
    }
  });
  await listen.query('LISTEN comfy_bridge_bus');
  if (STATEMENTS) await listen.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  // The receiving side (the LISTEN connection, B's sockets) runs on this process's event loop: its delay is part of every figure.
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  try {
    for (let i = 0; i < LATENCY_CLIENTS; i++) {
      const ws = new WebSocket(`${b!.url.replace('http', 'ws')}/ws?clientId=lat-${i}`);
      ws.on('message', (data) => {
        const now = performance.timeOrigin + performance.now();
        const frame = JSON.parse(data.toString()) as { seq?: number; status?: string; data?: { id?: string; state?: string; node?: string | null; step?: number | null } };
        if (typeof frame.seq === 'number') {
          arrived.set(`client:lat-${i} ${frame.seq}`, now);
          if (frame.data?.id) shown.set(`client:lat-${i} ${frame.seq}`, { generation: frame.data.id, seq: frame.seq, state: frame.data.state ?? '', node: frame.data.node ?? null, step: frame.data.step ?? null });
        }
        if (frame.status === 'closed' && frame.data?.id) closedAt.set(frame.data.id, now);
      });
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      sockets.push(ws);
    }
    const generate = async (i: number) => {
      const sent = Date.now();
      const res = await fetch(`${a!.url}/generate-based-workflow?clientId=lat-${i}&wait=true`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ workflow: 'text-to-image', '5/width': 64, '5/height': 64, '3/steps': 2 }),
      });
      // wait=true answers with the end's frame ({status, details, data: {id, …}}).
      const id = ((await res.json()) as { data?: { id?: string } }).data?.id;
      if (id) postedAt.set(id, sent);
    };
    await Promise.all(fakes.map((fake) => fake.sent())); // forget what earlier rounds recorded
    loopDelay.enable();
    if (rate > 0) {
      // Paced: generation k starts at k / rate s, on client k mod LATENCY_CLIENTS.
      const began = performance.now();
      await Promise.all(
        Array.from({ length: LATENCY_GENERATIONS }, async (_, k) => {
          const wait = began + (k * 1000) / rate - performance.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          await generate(k % LATENCY_CLIENTS);
        }),
      );
    } else {
      let next = 0;
      await Promise.all(
        Array.from({ length: LATENCY_CLIENTS }, async (_, i) => {
          while (next < LATENCY_GENERATIONS) {
            next++;
            await generate(i);
          }
        }),
      );
    }
    loopDelay.disable();
    const ms = (ns: number) => round(ns / 1e6, 1);
    console.log(`bench process event-loop delay while submitting, ms p50 / p99 / max: ${ms(loopDelay.percentile(50))} / ${ms(loopDelay.percentile(99))} / ${ms(loopDelay.max)}`);
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
    const promptOf = new Map((await sql.query<{ id: string; prompt_id: string }>(`SELECT id, prompt_id FROM generations`)).rows.map((row) => [row.id, row.prompt_id]));
    const sentEvents = (await Promise.all(fakes.map((fake) => fake.sent()))).flat();
    if (STATEMENTS) {
      const { rows: st } = await sql.query(`SELECT calls, round(total_exec_time::numeric, 1) AS ms, round(mean_exec_time::numeric,2) as mean, round(max_exec_time::numeric,2) as max, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) AS q FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY total_exec_time DESC LIMIT 12`);
      for (const r of st) console.log(r.calls, r.ms, r.mean, r.max, r.q);
    }
    await sql.end();
    const stage = (from: (row: { topic: string; seq: string; at: string }) => number | undefined, to: (row: { topic: string; seq: string; at: string }) => number | undefined) => {
      const values = rows.map((row) => [from(row), to(row)]).filter(([x, y]) => x !== undefined && y !== undefined).map(([x, y]) => y! - x!);
      values.sort((x, y) => x - y);
      return ms3(values);
    };
    const key = (row: { topic: string; seq: string }) => `${row.topic} ${row.seq}`;
    console.log('stages, ms p50 / p95 / p99: publish → NOTIFY received', stage((row) => Number(row.at), (row) => noticed.get(key(row))), '| NOTIFY received → B\'s socket', stage((row) => noticed.get(key(row)), (row) => arrived.get(key(row))));
    // From the moment A learnt of the event (the fake ComfyUI's send): the frame's cause found by what it shows.
    const cause = causes([...shown].map(([key, frame]) => ({ ...frame, key })), promptOf, sentEvents);
    const fromEvent = (to: (key: string, row: { topic: string; seq: string; at: string }) => number | undefined) => {
      const values: number[] = [];
      for (const row of rows) {
        const k = key(row);
        const event = cause.get(k);
        const end = to(k, row);
        if (event !== undefined && end !== undefined) values.push(end - event.at);
      }
      return values.sort((x, y) => x - y);
    };
    const eventToSocket = fromEvent((k) => arrived.get(k));
    const byKind = (kinds: ReadonlySet<string>) => {
      const values = rows.map((row) => [cause.get(key(row)), arrived.get(key(row))] as const).filter(([event, end]) => event && end !== undefined && kinds.has(event.event)).map(([event, end]) => end! - event!.at);
      values.sort((x, y) => x - y);
      return `${values.length} frames ${ms3(values)}`;
    };
    const queued = [...shown].filter(([k, frame]) => frame.state === 'queued' && postedAt.has(frame.generation) && arrived.has(k)).map(([k, frame]) => arrived.get(k)! - postedAt.get(frame.generation)!).sort((x, y) => x - y);
    console.log(`event sent by the fake ComfyUI → B's socket, ms p50 / p95 / p99 (${eventToSocket.length} of the ${rows.length - queued.length} frames after \`queued\` matched to their event): ${ms3(eventToSocket)}`);
    console.log(`  from the event sent, to: A's publish call ${ms3(fromEvent((_k, row) => Number(row.at)))}; the NOTIFY received ${ms3(fromEvent((k) => noticed.get(k)))}; B's socket (above)`);
    console.log(`  by the event: progress events → running frames ${byKind(PROGRESS_CAUSES)}; execution_success → closed (its results copied first) ${byKind(new Set(['execution_success']))}; the client's POST on A → its queued frame (no ComfyUI event) ${queued.length} frames ${ms3(queued)}`);
    const lives = [...postedAt].filter(([id]) => closedAt.has(id)).map(([id, sent]) => closedAt.get(id)! - sent).sort((x, y) => x - y);
    console.log(`POST on A → its closed on B's socket, ms p50 / p95 / p99 (${lives.length} of ${postedAt.size} generations): ${percentile(lives, 50)} / ${percentile(lives, 95)} / ${percentile(lives, 99)}`);
    const latencies = rows.filter((row) => arrived.has(`${row.topic} ${row.seq}`)).map((row) => arrived.get(`${row.topic} ${row.seq}`)! - Number(row.at));
    latencies.sort((x, y) => x - y);
    return {
      generations: LATENCY_GENERATIONS,
      ...(rate > 0 ? { pacedPerSecond: rate } : {}),
      frames: rows.length,
      received: latencies.length,
      p50Ms: round(percentile(latencies, 50), 1),
      p95Ms: round(percentile(latencies, 95), 1),
      p99Ms: round(percentile(latencies, 99), 1),
      maxMs: round(latencies.at(-1) ?? NaN, 1),
      fromEventMatched: eventToSocket.length,
      fromEventP50Ms: round(percentile(eventToSocket, 50), 1),
      fromEventP95Ms: round(percentile(eventToSocket, 95), 1),
      fromEventP99Ms: round(percentile(eventToSocket, 99), 1),
      closedP50Ms: percentile(lives, 50),
      closedP99Ms: percentile(lives, 99),
    };
  } finally {
    await listen.end();
    for (const ws of sockets) ws.terminate();
    await Promise.all([a, b, c].map((instance) => kill(instance!, 'SIGTERM')));
    await db.drop();
  }
}

/**
 * The bus alone (BENCH_FLEET_ONLY=bus): 3 PostgresBus instances in this process, BENCH_FLEET_BUS_TOPICS
 * (default 20) topics each publishing BENCH_FLEET_BUS_MESSAGES (default 40) frames-sized messages one
 * after another, BENCH_FLEET_BUS_GAP_MS (default 5) apart; ms from publish() to its promise (committed)
 * and to the NOTIFY at a LISTEN connection of its own. `depth`: publishing statements pipelined per bus
 * (this code's PUBLISH_DEPTH against BENCH_FLEET_BUS_DEPTHS, default "1", comma-separated, alternating);
 * BENCH_FLEET_BUS_BUSY_MS holds the event loop busy part of the time, as a bridge's requests do.
 */
async function busPublish(depth: number, mode: BusMode = 'await'): Promise<Record<string, number | string>> {
  const db = await createTestDatabase();
  const options = { url: db.url, poolSize: 4, connectTimeoutMs: 5000, statementTimeoutMs: 10000, replayWindow: 200, replayWindowMs: 300_000, onListenerError: () => undefined, publishDepth: depth };
  const buses = await Promise.all([0, 1, 2].map(() => PostgresBus.open(options)));
  const listen = new pg.Client({ connectionString: db.url });
  await listen.connect();
  const noticed = new Map<string, number>();
  listen.on('notification', (n) => {
    const notice = JSON.parse(n.payload ?? '{}') as { t?: string; s?: number };
    noticed.set(`${notice.t} ${notice.s}`, performance.now());
  });
  await listen.query(`LISTEN ${CHANNEL}`);
  const topics = Number(process.env.BENCH_FLEET_BUS_TOPICS ?? 20);
  const messages = Number(process.env.BENCH_FLEET_BUS_MESSAGES ?? 40);
  const gapMs = Number(process.env.BENCH_FLEET_BUS_GAP_MS ?? 5);
  // BENCH_FLEET_BUS_BURST=<n>: messages fall due n at a time (a generation's events come in bursts), and are
  // timed from when they fell due, so 'await' (the runner before publishLater) counts its wait for the commits.
  const burst = Math.max(1, Number(process.env.BENCH_FLEET_BUS_BURST ?? 1));
  const committed: number[] = [];
  const sent = new Map<string, number>();
  // BENCH_FLEET_BUS_BUSY_MS=<n>: the event loop is held n ms of every 2n, as a bridge busy with requests holds it.
  const busyMs = Number(process.env.BENCH_FLEET_BUS_BUSY_MS ?? 0);
  const busy = busyMs > 0 ? setInterval(() => {
    const until = performance.now() + busyMs;
    while (performance.now() < until);
  }, busyMs * 2) : undefined;
  try {
    await Promise.all(
      Array.from({ length: topics }, async (_, t) => {
        const bus = buses[t % 3]!;
        let seq = 0;
        for (let i = 0; i < messages; i += burst) {
          const due = performance.now();
          for (let j = i; j < Math.min(messages, i + burst); j++) {
            const payload = { type: 'progress', value: j, max: messages, padding: 'x'.repeat(300) };
            if (mode === 'later') {
              // One bus per topic here, so a topic's seqs are its calls' order (contracts/bus.ts).
              bus.publishLater(`bench-${t}`, payload);
              sent.set(`bench-${t} ${++seq}`, due);
            } else {
              const message = await bus.publish(`bench-${t}`, payload);
              committed.push(performance.now() - due);
              sent.set(`bench-${t} ${message.seq}`, due);
            }
          }
          await new Promise((resolve) => setTimeout(resolve, gapMs));
        }
      }),
    );
    const until = Date.now() + 5000;
    while (noticed.size < sent.size && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
  } finally {
    clearInterval(busy);
    await listen.end();
    await Promise.all(buses.map((bus) => bus.close()));
    await db.drop();
  }
  const notified = [...sent].filter(([key]) => noticed.has(key)).map(([key, at]) => noticed.get(key)! - at);
  const sorted = (values: number[]) => [...values].sort((x, y) => x - y);
  const [c, n] = [sorted(committed), sorted(notified)];
  return {
    depth,
    mode,
    burst,
    messages: sent.size,
    notified: n.length,
    // 'later' has no promise to time.
    committedP50Ms: round(percentile(c, 50), 1),
    committedP99Ms: round(percentile(c, 99), 1),
    lost: buses.reduce((n, bus) => n + bus.publishFailures, 0),
    notifyP50Ms: round(percentile(n, 50), 1),
    notifyP95Ms: round(percentile(n, 95), 1),
    notifyP99Ms: round(percentile(n, 99), 1),
  };
}

/**
 * The storage's writes alone (BENCH_FLEET_ONLY=storage): BENCH_FLEET_STORAGE_WRITERS (default 50) writers
 * in this process, each recording generations one after another as a submission and its life do (insert
 * queued, update running, update completed), for BENCH_FLEET_SECONDS. Variants, alternating in one run:
 * migration 8's schema with one insert per statement (main before wave 6), migration 9's with one insert
 * per statement, and this code (migration 9, concurrent inserts grouped: PostgresGenerationStore).
 * Reports lives/s and PostgreSQL's CPU per life (this bench's server only).
 */
/**
 * A generation's end alone (BENCH_FLEET_ONLY=end): BENCH_FLEET_END_WRITERS (default 20) generations at a time
 * in this process on one PostgresStorage, each recorded, then its progress written without waiting (as the
 * runner's throttled writes come) and at once its end, timed from the end's start to its commit, as a closed
 * frame waits for it. `wave 9`: the progress write durable (PostgreSQL ignored lazy), then the lease renewal
 * (#stillOwned), then the final write; `wave 10`: the progress write lazy (asynchronous commit), then the final
 * write with { owned: true }; `owned write, durable progress`: the owned write alone, the progress write durable. Reports the end's p50 / p95 / p99 and PostgreSQL's CPU per generation.
 */
type EndVariant = 'wave 9: renew, then write' | 'owned write, durable progress' | 'wave 10: owned write';
async function endPath(variant: EndVariant): Promise<Record<string, number>> {
  const db = await createTestDatabase();
  const storage = await PostgresStorage.open({ url: db.url, poolSize: 10, healthIntervalMs: 0, log: { warn: () => undefined, info: () => undefined } });
  try {
    const postmaster = parentOf((await storage.pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
    const writers = Number(process.env.BENCH_FLEET_END_WRITERS ?? 20);
    const template = generation(1);
    const ends: number[] = [];
    const deadlocks = async () => Number((await storage.pool.query<{ n: string }>('SELECT deadlocks AS n FROM pg_stat_database WHERE datname = current_database()')).rows[0]!.n);
    const deadlocksBefore = await deadlocks();
    const cpuBefore = postgresCpuMs(postmaster);
    const deadline = performance.now() + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let i = 0; performance.now() < deadline; i++) {
          const gen: Generation = { ...template, id: `gen_e${w}_${i}`, clientId: `bench-${w}`, state: 'running', createdAt: new Date().toISOString(), results: [], error: null };
          await storage.generations.insert(gen);
          const progress = storage.generations.write(gen.id, { percent: 50, step: 1 }, variant.startsWith('wave 10') ? { lazy: true } : undefined);
          const began = performance.now();
          if (!variant.startsWith('wave 9')) await storage.generations.write(gen.id, { state: 'completed', percent: 100 }, { owned: true });
          else {
            await storage.leases.renew([gen.id]);
            await storage.generations.write(gen.id, { state: 'completed', percent: 100 });
          }
          ends.push(performance.now() - began);
          await progress;
        }
      }),
    );
    const cpu = postgresCpuMs(postmaster) - cpuBefore;
    ends.sort((x, y) => x - y);
    return {
      generations: ends.length,
      endP50Ms: round(percentile(ends, 50), 2),
      endP95Ms: round(percentile(ends, 95), 2),
      endP99Ms: round(percentile(ends, 99), 2),
      postgresCpuMsPerGeneration: round(cpu / ends.length, 3),
      // Counted by PostgreSQL's statistics, which a backend reports up to a second late: a lower bound.
      deadlocks: (await deadlocks()) - deadlocksBefore,
    };
  } finally {
    await storage.close();
    await db.drop();
  }
}

/**
 * PostgreSQL's CPU and WAL per published frame: 3 buses publish 300-byte frames on 200 topics (clients), 20 at a
 * time each, for BENCH_FLEET_SECONDS; `atIndex` adds the index on bus_messages.at that releases up to 3c7f458 made.
 */
async function framesCost(atIndex: boolean): Promise<Record<string, number>> {
  const db = await createTestDatabase();
  const options = { url: db.url, poolSize: 2, connectTimeoutMs: 5000, statementTimeoutMs: 10000, replayWindow: 200, replayWindowMs: 300_000, onListenerError: () => undefined };
  const buses = await Promise.all([0, 1, 2].map(() => PostgresBus.open(options)));
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  try {
    if (atIndex) await admin.query('CREATE INDEX bus_messages_at ON bus_messages (at)');
    const postmaster = parentOf((await admin.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
    const lsn = async () => (await admin.query<{ lsn: string }>('SELECT pg_current_wal_lsn() AS lsn')).rows[0]!.lsn;
    const walFrom = await lsn();
    const cpuBefore = postgresCpuMs(postmaster);
    const deadline = performance.now() + SECONDS * 1000;
    let published = 0;
    await Promise.all(
      Array.from({ length: 60 }, async (_, lane) => {
        const bus = buses[lane % 3]!;
        for (let i = 0; performance.now() < deadline; i++) {
          await bus.publish(`client:bench-${(lane * 7 + i) % 200}`, { type: 'progress', value: i, padding: 'x'.repeat(300) });
          published++;
        }
      }),
    );
    const cpu = postgresCpuMs(postmaster) - cpuBefore;
    const { rows } = await admin.query<{ bytes: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1) AS bytes', [walFrom]);
    return { published, postgresCpuMsPer1000: round((cpu / published) * 1000, 1), walBytesPerFrame: round(Number(rows[0]!.bytes) / published, 0) };
  } finally {
    await admin.end();
    await Promise.all(buses.map((bus) => bus.close()));
    await db.drop();
  }
}

/**
 * PostgreSQL's and this process's CPU per runner write: 50 running generations (the fleet's workflow graph in
 * each), each written 60 times one after another as the runner writes progress (write, lazy), through the
 * storage-postgres of `root`'s dist/ (this checkout's when undefined). Backend CPU read from /proc.
 */
async function runnerWrites(root: string | undefined): Promise<Record<string, number>> {
  const from = root ? join(root, 'dist') : fileURLToPath(new URL('../dist', import.meta.url));
  const { PostgresStorage: Storage } = (await import(join(from, 'plugins/storage-postgres/pg-storage.js'))) as { PostgresStorage: typeof PostgresStorage };
  const db = await createTestDatabase();
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };
  const storage = await Storage.open({ url: db.url, instance: 'bench', leaseMs: 60_000, poolSize: 4, healthIntervalMs: 0, log: quiet as never });
  try {
    const graph = JSON.parse(readFileSync(fileURLToPath(new URL('../workflows/text-to-image.json', import.meta.url)), 'utf8')) as Generation['graph'];
    const ids = Array.from({ length: 50 }, (_, i) => `gen_w${i}`);
    for (const id of ids) await storage.generations.insert({ ...generation(1), id, state: 'running', graph, results: [], error: null });
    const backends = async () => (await storage.pool.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database()')).rows.map((row) => row.pid);
    const backendCpu = async () => (await backends()).reduce((sum, pid) => sum + cpuMs(pid), 0);
    const pgBefore = await backendCpu();
    const processBefore = process.cpuUsage();
    let written = 0;
    await Promise.all(ids.map(async (id) => {
      for (let i = 0; i < 60; i++) {
        await storage.generations.write(id, { percent: i }, { lazy: true });
        written++;
      }
    }));
    const processCpu = process.cpuUsage(processBefore);
    const pgCpu = (await backendCpu()) - pgBefore;
    return { written, postgresCpuUsPerWrite: round((pgCpu * 1000) / written, 0), processCpuUsPerWrite: round((processCpu.user + processCpu.system) / written, 0) };
  } finally {
    await storage.close();
    await db.drop();
  }
}

/** How busPublish hands messages over: each awaited before the next (the runner before wave 8), or publishLater. */
type BusMode = 'await' | 'later';

type StorageVariant = 'migration 8, single inserts' | 'migration 9, single inserts' | 'migration 9, grouped inserts';
async function storageWrites(variant: StorageVariant): Promise<Record<string, number>> {
  const db = await createTestDatabase();
  const pool = new pg.Pool({ connectionString: db.url, max: 8 });
  try {
    await migrate(pool, variant.startsWith('migration 8') ? MIGRATIONS.filter((m) => m.version <= 8) : MIGRATIONS);
    const store = new PostgresGenerationStore(pool, { instance: 'bench', ttlMs: 6000 });
    const insert = variant.endsWith('grouped inserts')
      ? (gen: Generation) => store.insert(gen)
      : async (gen: Generation) => {
          const { id, ...doc } = gen;
          await pool.query({ name: 'generations_insert', text: 'INSERT INTO generations (id, doc) VALUES ($1, $2::jsonb)', values: [id, JSON.stringify(doc)] });
        };
    const postmaster = parentOf((await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
    const writers = Number(process.env.BENCH_FLEET_STORAGE_WRITERS ?? 50);
    const template = generation(1);
    let lives = 0;
    const cpuBefore = postgresCpuMs(postmaster);
    const began = performance.now();
    const deadline = began + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let i = 0; performance.now() < deadline; i++) {
          const gen: Generation = { ...template, id: `gen_w${w}_${i}`, clientId: `bench-${w}`, state: 'queued', createdAt: new Date().toISOString(), results: [], error: null };
          await insert(gen);
          await store.update(gen.id, { state: 'running', position: 0 });
          await store.update(gen.id, { state: 'completed', percent: 100 });
          lives++;
        }
      }),
    );
    const elapsed = (performance.now() - began) / 1000;
    return { lives, perSecond: round(lives / elapsed, 0), postgresCpuMsPerLife: round((postgresCpuMs(postmaster) - cpuBefore) / lives, 3) };
  } finally {
    await pool.end();
    await db.drop();
  }
}

/** What a frame on B's socket showed: enough to find the fake ComfyUI event that caused it (causes). */
interface ShownFrame {
  generation: string;
  seq: number;
  state: string;
  node: string | null;
  step: number | null;
}

/** [promptId, event, at (epoch ms), node, value] as bench/servers/fake-comfy.ts records them. */
type SentEvent = [string, string, number, string | null, number | null];

/** The websocket events that move a running generation's frame (node, step, nodes done). */
const PROGRESS_CAUSES: ReadonlySet<string> = new Set(['execution_start', 'execution_cached', 'executing', 'progress', 'executed']);
/** The event that ends a generation in each final state (its frame comes after the results are copied, for `completed`). */
const END_CAUSES: Record<string, string> = { completed: 'execution_success', failed: 'execution_error', interrupted: 'execution_interrupted' };

/**
 * The ComfyUI event each frame on B's socket answers, found by what the frame shows, walking a generation's frames
 * (seq order) and its prompt's events (send order) together. `queued` answers no event (A publishes it as it
 * records the generation, before ComfyUI has the prompt): left out here. An end ← its end event;
 * a running frame ← the next event after the last one matched that leaves (node, step) as the frame shows them,
 * tracked as the generation machine does (`executing` moves to a node and clears the step, `progress` sets it,
 * `executed` marks a node done: the same (node, step) with a higher percent, so a second frame showing them
 * answers it). A frame none matches is left out (counted). When a frame the bridge would have sent is missing
 * (coalesced), the next one is matched to an earlier event than its own: its time is then overstated, never cut.
 */
function causes(frames: (ShownFrame & { key: string })[], promptOf: Map<string, string>, sent: SentEvent[]): Map<string, { event: string; at: number }> {
  const byPrompt = new Map<string, SentEvent[]>();
  for (const event of sent) {
    const list = byPrompt.get(event[0]);
    if (list) list.push(event);
    else byPrompt.set(event[0], [event]);
  }
  const byGeneration = new Map<string, (ShownFrame & { key: string })[]>();
  for (const frame of frames) {
    const list = byGeneration.get(frame.generation);
    if (list) list.push(frame);
    else byGeneration.set(frame.generation, [frame]);
  }
  const found = new Map<string, { event: string; at: number }>();
  for (const [generation, shown] of byGeneration) {
    const events = (byPrompt.get(promptOf.get(generation) ?? '') ?? []).sort((x, y) => x[2] - y[2]);
    shown.sort((x, y) => x.seq - y.seq);
    let next = 0;
    let node: string | null = null;
    let step: number | null = null;
    for (const frame of shown) {
      if (frame.state === 'queued') continue;
      const wanted = END_CAUSES[frame.state];
      let at = next;
      let n: string | null = node;
      let s: number | null = step;
      for (; at < events.length; at++) {
        const [, event, , eventNode, value] = events[at]!;
        if (wanted !== undefined) {
          if (event === wanted) break;
          continue;
        }
        if (!PROGRESS_CAUSES.has(event)) continue;
        if ((event === 'executing' || event === 'progress') && eventNode !== null && eventNode !== n) {
          n = eventNode;
          s = null;
        }
        if (event === 'progress') s = value;
        if (frame.state === 'running' && n === frame.node && s === frame.step) break;
      }
      if (at >= events.length) continue;
      found.set(frame.key, { event: events[at]![1], at: events[at]![2] });
      next = at + 1;
      node = n;
      step = s;
    }
  }
  return found;
}

/** p50 / p95 / p99 of sorted values, to 0.1 ms. */
const ms3 = (sorted: number[]): string => [50, 95, 99].map((p) => round(percentile(sorted, p), 1)).join(' / ');

interface FakeProcess {
  url: string;
  /** The events it sent (and POSTs it read) since the last call, when it records them (BENCH_FAKE_RECORD). */
  sent(): Promise<SentEvent[]>;
  stop(): Promise<void>;
}

/**
 * A fake ComfyUI in a process of its own (bench/servers/fake-comfy.ts), not pinned to a core. The latency
 * part uses these: the frames are timed on this process's event loop (its LISTEN connection, B's sockets),
 * which the fakes' work (every generation's events, images, history) would otherwise hold up.
 */
async function fakeProcess(nodeMs: number): Promise<FakeProcess> {
  const script = fileURLToPath(new URL('./servers/fake-comfy.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, BENCH_NODE_MS: String(nodeMs), BENCH_FAKE_RECORD: '1' } });
  const [url, recording] = await new Promise<[string, string]>((resolve, reject) => {
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const match = /LISTENING (\S+)\nRECORDING (\S+)\n/.exec(buffered);
      if (match) resolve([match[1]!, match[2]!]);
    });
    child.once('exit', (code) => reject(new Error(`the fake ComfyUI exited with ${code} before listening`)));
  });
  return {
    url,
    sent: async () => (await (await fetch(recording)).json()) as SentEvent[],
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

/** CPU ms (user + system) a process used so far, from /proc. */
function cpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}

/** The parent pid of a process, from /proc. */
function parentOf(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
}

/**
 * CPU ms of this bench's PostgreSQL: its postmaster and every process it forked that still runs (the
 * instances' pooled backends live through the run; ended ones are lost, so a floor). Other PostgreSQL
 * servers on the machine are not counted.
 */
function postgresCpuMs(postmaster: number): number {
  let total = cpuMs(postmaster);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (parentOf(Number(entry)) === postmaster) total += cpuMs(Number(entry));
    } catch {
      // ended meanwhile
    }
  }
  return total;
}

const SUBMISSION = JSON.stringify({ workflow: 'text-to-image', '5/width': 64, '5/height': 64, '3/steps': 1 });

/**
 * One POST on a kept-alive connection, body read to the end; resolves with the status. node:http rather
 * than fetch: the same requests on the wire for less of the 2 cores the fleet shares with this process
 * (fetch's web streams and undici were a fifth of this process's CPU in a profile; 6,000 POSTs at c=50
 * to a bare server cost 0.64–0.92 ms of CPU each with fetch, 0.19–0.26 ms with node:http, server included).
 */
function post(agent: Agent, url: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Acknowledged submissions/s through 3 instances behind the round-robin proxy, c=50. */
async function throughputOf(dir: string, fakes: FakeComfy[], name: string, root: string | undefined): Promise<Record<string, number>> {
  const db = await createTestDatabase();
  // A fleet runs the PostgreSQL bus (COMFY_BRIDGE_DATABASE_URL selects it): every frame is a row and a NOTIFY.
  // Before wave 8 this part ran each instance's in-process bus (BENCH_FLEET_THROUGHPUT_BUS=memory still does).
  const bus = THROUGHPUT_BUS === 'memory' ? {} : { bus: false, 'bus-postgres': { url: db.url } };
  const generate = QUEUED ? { generate: { maxActivePerClient: 10_000, maxActive: 1_000_000 } } : {};
  const config = await writeFleetConfig(dir, { databaseUrl: db.url, backends: fakes.map((f) => f.url), plugins: { ...bus, ...generate } });
  const instances = await Promise.all([0, 1, 2].map(() => startInstance(config, root)));
  const proxy = await startRoundRobinProxy(instances.map((i) => i.url));
  for (const instance of instances) {
    while ((await fetch(`${instance.url}/ready`).then((r) => r.status, () => 0)) !== 200) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const postedBefore = fakes.reduce((n, f) => n + f.prompts.filter((p) => p.accepted).length, 0);
  let sql: pg.Client | undefined;
  let postmaster = 0;
  if (STATEMENTS) {
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    await sql.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    await sql.query('SELECT pg_stat_statements_reset()');
    postmaster = parentOf((await sql.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
  }
  const cpuBefore = [...instances.map((i) => cpuMs(i.child.pid)), postgresCpuMs(postmaster), cpuMs(process.pid)];
  let ok = 0;
  let refused = 0;
  let issued = 0;
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const deadline = performance.now() + SECONDS * 1000;
  const began = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, c) => {
      while (performance.now() < deadline) {
        if (RATE > 0) {
          // Paced: submission k starts at k / RATE s (or as soon as one of the 50 clients is free).
          const at = began + (issued++ * 1000) / RATE;
          if (at >= deadline) break;
          if (at > performance.now()) await new Promise((resolve) => setTimeout(resolve, at - performance.now()));
        }
        const status = await post(agent, `${proxy.url}/generate-based-workflow?clientId=bench-${c}`, SUBMISSION);
        if (status === 200) ok++;
        else refused++;
      }
    }),
  );
  const elapsed = (performance.now() - began) / 1000;
  agent.destroy();
  const posted = fakes.reduce((n, f) => n + f.prompts.filter((p) => p.accepted).length, 0) - postedBefore;
  const throughput = { instances: 3, concurrency: CONCURRENCY, seconds: round(elapsed, 1), acknowledged: ok, refused, perSecond: round(ok / elapsed, 0), postedToComfy: posted };
  console.log('throughput', name, throughput);
  if (sql) {
    // CPU per acknowledged submission (the generations also run their whole life on the fakes meanwhile).
    const cpuAfter = [...instances.map((i) => cpuMs(i.child.pid)), postgresCpuMs(postmaster), cpuMs(process.pid)];
    const per = (k: number) => round((cpuAfter[k]! - cpuBefore[k]!) / ok, 2);
    console.log('CPU ms per acknowledged submission: bridges', [0, 1, 2].map(per), 'postgres (its server and backends)', per(3), 'bench process (clients, proxy, fakes)', per(4));
    const { rows } = await sql.query<{ calls: string; ms: string; query: string }>(
      `SELECT calls, round(total_exec_time::numeric, 1) AS ms, regexp_replace(query, '\\s+', ' ', 'g') AS query
       FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY calls DESC LIMIT 30`,
    );
    // Updates PostgreSQL could make in place (HOT: no index entries written) vs all updates of the generations rows.
    const hot = (await sql.query<{ upd: string; hot: string }>(`SELECT n_tup_upd AS upd, n_tup_hot_upd AS hot FROM pg_stat_user_tables WHERE relname = 'generations'`)).rows[0];
    console.log(`generations updates: ${hot?.upd}, of which HOT (no index entries written): ${hot?.hot}`);
    // Statements that waited out deadlock_timeout (1 s) and were rolled back: a grouped statement's price if its locks cross another's.
    const deadlocks = (await sql.query<{ deadlocks: string }>('SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()')).rows[0]?.deadlocks;
    console.log(`deadlocks: ${deadlocks}`);
    const total = rows.reduce((n, r) => n + Number(r.calls), 0);
    console.log(`SQL statements per acknowledged submission (top 30 shapes): ${round(total / ok, 2)}`);
    for (const row of rows) console.log(`${round(Number(row.calls) / ok, 2).toString().padStart(6)}/sub ${row.ms.padStart(9)} ms  ${row.query.slice(0, 160)}`);
    await sql.end();
  }
  await proxy.close();
  await Promise.all(instances.map((i) => kill(i, 'SIGTERM')));
  await db.drop();
  return throughput;
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

setPostgresSettings({ fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on', ...(STATEMENTS ? { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all' } : {}) });
const dir = await scratchDir('bench-fleet-');
await mkdir(join(dir, 'data'));
const fakes = [await startFakeComfy({ nodeDurationMs: 1 }), await startFakeComfy({ nodeDurationMs: 1 })];
try {
  let cold: Record<string, number> | undefined;
  let throughput: Record<string, number> | undefined;
  let latency: Record<string, number> | undefined;
  let bus: Record<string, number> | undefined;
  let storage: Record<string, number> | undefined;
  let end: Record<string, number> | undefined;
  let frames: Record<string, number> | undefined;
  let writes: Record<string, number> | undefined;
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
    const held = QUEUED ? [await startFakeComfy({ nodeDurationMs: 600_000 }), await startFakeComfy({ nodeDurationMs: 600_000 })] : fakes;
    throughput = {};
    for (const round of [0, 1]) {
      if (round === 1 && SIDES.length === 1) break;
      for (const side of round === 0 ? SIDES : [...SIDES].reverse()) {
        const result = await throughputOf(dir, held, side.name, side.root);
        throughput[`${side.name} #${round + 1}`] = result.perSecond!;
      }
    }
    if (QUEUED) for (const fake of held) await fake.stop();
  }

  if (ONLY === 'storage') {
    // Not part of a full run: PostgreSQL's cost of a submission's writes, before and after migration 9 and grouped inserts.
    storage = {};
    const variants: StorageVariant[] = ['migration 8, single inserts', 'migration 9, single inserts', 'migration 9, grouped inserts'];
    for (const round of [0, 1]) {
      for (const variant of round === 0 ? variants : [...variants].reverse()) {
        const result = await storageWrites(variant);
        console.log('storage writes', variant, result, 'load average', loadavg()[0]!.toFixed(1));
        storage[`${variant} #${round + 1} postgresCpuMsPerLife`] = result.postgresCpuMsPerLife!;
      }
    }
  }

  if (ONLY === 'end') {
    // Not part of a full run: a generation's end on PostgreSQL, wave 9's way against this code's, alternating.
    end = {};
    const variants: EndVariant[] = ['wave 9: renew, then write', 'owned write, durable progress', 'wave 10: owned write'];
    for (const round of [0, 1, 2]) {
      for (const variant of round % 2 === 0 ? variants : [...variants].reverse()) {
        const result = await endPath(variant);
        console.log('end path', variant, result, 'load average', loadavg()[0]!.toFixed(1));
        for (const key of ['endP50Ms', 'endP99Ms'] as const) end[`${variant} #${round + 1} ${key}`] = result[key]!;
      }
    }
  }

  if (ONLY === 'writes') {
    // Not part of a full run: the runner's progress writes through each side's storage-postgres (dist/), alternating.
    writes = {};
    for (const round of [0, 1, 2]) {
      for (const side of round % 2 === 0 ? SIDES : [...SIDES].reverse()) {
        const result = await runnerWrites(side.root);
        console.log('runner writes', side.name, result, 'load average', loadavg()[0]!.toFixed(1));
        writes[`${side.name} #${round + 1} postgresCpuUsPerWrite`] = result.postgresCpuUsPerWrite!;
        writes[`${side.name} #${round + 1} processCpuUsPerWrite`] = result.processCpuUsPerWrite!;
      }
    }
  }

  if (ONLY === 'frames') {
    // Not part of a full run: PostgreSQL's cost of a frame, with and without the index on bus_messages.at (up to 3c7f458).
    frames = {};
    for (const round of [0, 1, 2]) {
      for (const atIndex of round % 2 === 0 ? [true, false] : [false, true]) {
        const result = await framesCost(atIndex);
        const name = atIndex ? 'with the at index' : 'without it';
        console.log('frames', name, result, 'load average', loadavg()[0]!.toFixed(1));
        frames[`${name} #${round + 1} postgresCpuMsPer1000`] = result.postgresCpuMsPer1000!;
        frames[`${name} #${round + 1} walBytesPerFrame`] = result.walBytesPerFrame!;
      }
    }
  }

  if (ONLY === 'bus') {
    // Not part of a full run: it measures the bus's publishing alone, this code's pipeline depth against others.
    bus = {};
    // BENCH_FLEET_BUS_MODES=1: publish awaited one by one against publishLater, at this code's depth; else depths.
    const modes = process.env.BENCH_FLEET_BUS_MODES === '1';
    const compared: [number, BusMode][] = modes
      ? [[PUBLISH_DEPTH, 'await'], [PUBLISH_DEPTH, 'later']]
      : [PUBLISH_DEPTH, ...(process.env.BENCH_FLEET_BUS_DEPTHS ?? '1').split(',').map(Number)].map((depth) => [depth, 'await']);
    for (const round of [0, 1]) {
      for (const [depth, mode] of round === 0 ? compared : [...compared].reverse()) {
        const result = await busPublish(depth, mode);
        console.log('bus publish', result, 'load average', loadavg()[0]!.toFixed(1));
        bus[`depth ${depth} ${mode} #${round + 1} notifyP50Ms`] = result.notifyP50Ms as number;
        bus[`depth ${depth} ${mode} #${round + 1} notifyP99Ms`] = result.notifyP99Ms as number;
      }
    }
  }

  if (runs('latency')) {
    latency = {};
    const apart = await Promise.all([0, 1].map(() => fakeProcess(1)));
    try {
      for (const round of [0, 1]) {
        if (round === 1 && SIDES.length === 1) break;
        for (const side of round === 0 ? SIDES : [...SIDES].reverse()) {
          // Both kinds, reported apart: saturated (A's queue included) and paced (the bus's own path).
          for (const rate of LATENCY_RATE > 0 ? [0, LATENCY_RATE] : [0]) {
            const kind = rate > 0 ? `paced at ${rate} generations/s` : 'saturated (closed loop, A busy)';
            const result = await crossInstanceLatency(dir, apart, side.root, rate);
            console.log(`cross-instance frame latency, ${kind}`, side.name, result, 'load average', loadavg()[0]!.toFixed(1));
            latency[`${side.name}, ${rate > 0 ? `paced ${rate}/s` : 'saturated'} #${round + 1} p50Ms`] = result.p50Ms!;
            latency[`${side.name}, ${rate > 0 ? `paced ${rate}/s` : 'saturated'} #${round + 1} p99Ms`] = result.p99Ms!;
            latency[`${side.name}, ${rate > 0 ? `paced ${rate}/s` : 'saturated'} #${round + 1} fromEventP50Ms`] = result.fromEventP50Ms!;
            latency[`${side.name}, ${rate > 0 ? `paced ${rate}/s` : 'saturated'} #${round + 1} fromEventP99Ms`] = result.fromEventP99Ms!;
          }
        }
      }
    } finally {
      for (const fake of apart) await fake.stop();
    }
  }
  console.log(JSON.stringify({ cold, throughput, latency, bus, storage, end, frames, writes }));
} finally {
  for (const fake of fakes) await fake.stop();
  await stopPostgres();
  await rm(dir, { recursive: true, force: true });
}
