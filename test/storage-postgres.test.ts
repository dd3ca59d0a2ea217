import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createApp } from '../core/app.js';
import { loadConfig } from '../cli/config/load.js';
import type { Generation } from '../contracts/generation.js';
import type { HistoryQuery, Storage } from '../contracts/storage.js';
import { historyStatements, type Statement } from '../plugins/storage-postgres/generation-store.js';
import { LEASE_CLAIM } from '../plugins/storage-postgres/lease-store.js';
import { migrate, MIGRATIONS } from '../plugins/storage-postgres/migrations.js';
import { PostgresStorage } from '../plugins/storage-postgres/pg-storage.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { grabbing } from './helpers/fixture-plugins.js';
import { generationRecord, numberedGenerations } from './helpers/generation.js';
import { adminQuery, createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { bulkInsertGenerations, rebuildTallies } from './helpers/postgres-rows.js';
import { until } from './helpers/until.js';

const quietLog = { warn: () => undefined, info: () => undefined };
const LATEST = Math.max(...MIGRATIONS.map((m) => m.version));

async function query<T extends pg.QueryResultRow>(url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

const open = (url: string) => PostgresStorage.open({ url, poolSize: 4, healthIntervalMs: 0, log: quietLog });

describe('storage-postgres', () => {
  let db: TestDatabase;
  const opened: PostgresStorage[] = [];

  beforeEach(async () => {
    db = await createTestDatabase();
  });

  afterEach(async () => {
    for (const storage of opened.splice(0)) await storage.close();
    await db.drop();
  });

  const track = async (storage: Promise<PostgresStorage>) => {
    const s = await storage;
    opened.push(s);
    return s;
  };

  describe('migrations', () => {
    it('create the schema in an empty database, then find nothing to do on the next start', async () => {
      const first = await track(open(db.url));
      expect(first.migrations).to.deep.equal({ applied: MIGRATIONS.map((m) => m.version), unknown: [] });
      const tables = await query<{ table_name: string }>(db.url, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`);
      expect(tables.map((t) => t.table_name)).to.deep.equal(['bridge_instances', 'client_bindings', 'generation_tallies', 'generations', 'idempotency_keys', 'kv', 'schema_migrations', 'uploads', 'webhook_outbox', 'webhook_subscriptions']);
      await first.generations.insert(generationRecord({ id: 'gen_kept', createdAt: '2026-01-01T00:00:00.000Z' }));

      const second = await track(open(db.url));
      expect(second.migrations).to.deep.equal({ applied: [], unknown: [] });
      const versions = await query<{ version: number }>(db.url, 'SELECT version FROM schema_migrations ORDER BY version');
      expect(versions.map((v) => v.version)).to.deep.equal(MIGRATIONS.map((m) => m.version));
      expect((await second.generations.get('gen_kept'))?.id).to.equal('gen_kept');
    });

    it('run exactly once when several instances start at the same moment', async () => {
      // The steps are plain CREATEs: without the advisory lock, the losers would fail on "already exists".
      const storages = await Promise.all(Array.from({ length: 4 }, () => track(open(db.url))));
      const applied = storages.flatMap((s) => s.migrations.applied);
      expect(applied.sort((a, b) => a - b)).to.deep.equal(MIGRATIONS.map((m) => m.version));
      expect(storages.filter((s) => s.migrations.applied.length > 0)).to.have.length(1);
      const rows = await query<{ n: string }>(db.url, 'SELECT count(*) AS n FROM schema_migrations');
      expect(Number(rows[0]?.n)).to.equal(MIGRATIONS.length);
      const held = await query<{ n: string }>(db.url, `SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory'`);
      expect(Number(held[0]?.n)).to.equal(0);
    });

    it('roll a failing step back whole, name it, and release the lock for the next start', async () => {
      const pool = new pg.Pool({ connectionString: db.url, max: 2 });
      try {
        const broken = [...MIGRATIONS, { version: LATEST + 1, name: 'broken step', sql: 'CREATE TABLE half_done (x int); SELECT * FROM no_such_table' }];
        let failure: unknown;
        await migrate(pool, broken).catch((error: unknown) => (failure = error));
        expect((failure as Error).message).to.include(`migration ${LATEST + 1} (broken step)`).and.include('no_such_table');
        const versions = await query<{ version: number }>(db.url, 'SELECT version FROM schema_migrations ORDER BY version');
        expect(versions.map((v) => v.version)).to.deep.equal(MIGRATIONS.map((m) => m.version));
        expect(await query(db.url, `SELECT 1 FROM information_schema.tables WHERE table_name = 'half_done'`)).to.deep.equal([]);
        // Not stuck behind a lock the failed run kept.
        expect(await migrate(pool)).to.deep.equal({ applied: [], unknown: [] });
      } finally {
        await pool.end();
      }
    });

    it('migration 9 keeps the counts a database had: ever recorded (pruned rows too), by state, and the history totals', async () => {
      // Written under migration 8's triggers (ever-recorded tallies kept on every write), then upgraded.
      const pool = new pg.Pool({ connectionString: db.url, max: 2 });
      const make = numberedGenerations({ start: '2026-04-01T00:00:00.000Z', idPrefix: 'gen_m', idDigits: 3 });
      const gens: Generation[] = Array.from({ length: 30 }, (_, i) => make({ clientId: `c${i % 4}`, state: i % 3 ? 'completed' : 'queued' }));
      try {
        await migrate(pool, MIGRATIONS.filter((m) => m.version <= 8));
        for (const g of gens) {
          const { id: _id, ...doc } = g;
          await pool.query('INSERT INTO generations (id, doc) VALUES ($1, $2::jsonb)', [g.id, JSON.stringify(doc)]);
        }
        await pool.query(`UPDATE generations SET doc = doc || '{"state":"failed"}' WHERE id = ANY($1)`, [[gens[0]!.id, gens[3]!.id]]);
        await pool.query('DELETE FROM generations WHERE id = ANY($1)', [gens.slice(1, 5).map((g) => g.id)]);
      } finally {
        await pool.end();
      }
      const storage = await track(open(db.url));
      expect(storage.migrations.applied).to.deep.equal([9, 10]);
      const counts = await storage.generations.counts();
      // 30 recorded: the 1st and 4th failed (the 4th deleted since), 20 completed (three deleted), 8 queued.
      expect(counts.total).to.equal(30);
      expect(counts.byState).to.include({ failed: 2, completed: 20, queued: 8 });
      expect((await storage.generations.page({ limit: 1, offset: 0 })).total).to.equal(26);
      expect((await storage.generations.page({ state: 'queued', clientId: 'c0', limit: 1, offset: 0 })).total).to.equal(gens.filter((g, i) => i % 3 === 0 && i % 4 === 0 && i !== 0).length);
      // And from here on the new triggers keep them (a state change counted per statement: migration 10).
      await storage.generations.update(gens[6]!.id, { state: 'running' });
      await storage.generations.insert(make({ clientId: 'c0' }));
      await storage.generations.prune({ keep: 20 });
      const after = await storage.generations.counts();
      expect(after.total).to.equal(31);
      expect(after.byState).to.include({ failed: 2, completed: 20, queued: 8, running: 1 });
      const present = Number((await query<{ n: string }>(db.url, 'SELECT count(*) AS n FROM generations'))[0]?.n);
      expect(present).to.be.below(27);
      expect((await storage.generations.page({ limit: 1, offset: 0 })).total).to.equal(present);
    });

    it('report schema versions a newer release applied, and still open', async () => {
      await (await track(open(db.url))).close();
      await query(db.url, `INSERT INTO schema_migrations (version, name) VALUES ($1, 'from a newer release')`, [LATEST + 7]);
      const storage = await track(open(db.url));
      expect(storage.migrations.unknown).to.deep.equal([LATEST + 7]);
      expect(storage.isOpen()).to.equal(true);
    });
  });

  describe('indexes', () => {
    const plan = async (statement: Statement): Promise<string[]> => {
      const rows = await query<{ 'QUERY PLAN': unknown }>(db.url, `EXPLAIN (FORMAT JSON) ${statement.text}`, statement.values);
      const nodes: string[] = [];
      const walk = (node: Record<string, unknown>): void => {
        const on = node['Index Name'] ?? node['Relation Name'];
        nodes.push(`${String(node['Node Type'])}${on ? ` ${String(on)}` : ''}`);
        for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
      };
      walk((rows[0]?.['QUERY PLAN'] as { Plan: Record<string, unknown> }[])[0]!.Plan);
      return nodes;
    };

    it('serve history pages, their totals and the lookups from indexes: no table scan, no sort', async () => {
      const storage = await track(open(db.url));
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        // 40,000 rows, so the deepest page below (offset 19,000) is deep yet not the table's far end: a page at 95 % of
        // the table is one PostgreSQL may rightly read by scanning and sorting, depending on the visibility map
        // (seen once in a full run at 20,000 rows).
        await bulkInsertGenerations(client, { from: 1, to: 40000, template: generationRecord({ id: 'x', createdAt: 'x' }) });
        await client.query('VACUUM ANALYZE generations');
      } finally {
        await client.end();
      }
      const pages: HistoryQuery[] = [
        { limit: 20, offset: 0 },
        { limit: 20, offset: 200 },
        { limit: 20, offset: 0, clientId: 'client-7' },
        { limit: 20, offset: 0, owner: 'key-3' },
        { limit: 20, offset: 0, workflow: 'image-to-image' },
        { limit: 20, offset: 0, state: 'failed' },
        { limit: 20, offset: 0, owner: 'key-3', state: 'failed' },
        { limit: 20, offset: 0, clientId: 'client-7', state: 'completed' },
        { limit: 20, offset: 0, workflow: 'image-to-image', state: 'interrupted' },
        { limit: 20, offset: 0, clientId: 'client-7', workflow: 'text-to-image' },
        { limit: 20, offset: 19000 },
        { limit: 20, offset: 900, owner: 'key-3', workflow: 'text-to-image' },
      ];
      for (const page of pages) {
        const { items, total, page: both } = historyStatements(page);
        for (const statement of [items, total, both]) {
          const nodes = await plan(statement);
          const context = `${JSON.stringify(page)}: ${nodes.join(' > ')}`;
          expect(nodes.some((n) => n.startsWith('Seq Scan')), context).to.equal(false);
          expect(nodes.some((n) => n.startsWith('Sort')), context).to.equal(false);
        }
        // However deep the offset, the rows skipped are read from an index alone, never from the table.
        const skipping = (await plan(items)).filter((n) => n.includes('generations_') && !n.includes('pkey'));
        expect(skipping, JSON.stringify(page)).to.have.length(1);
        expect(skipping[0], JSON.stringify(page)).to.match(/^Index Only Scan/);
      }
      // The totals agree with the rows (tallies from the bulk load, counts over the index otherwise).
      for (const page of pages) {
        const where = Object.entries({ client_id: page.clientId, owner: page.owner, workflow: page.workflow, state: page.state }).filter(([, v]) => v !== undefined);
        const sql = `SELECT count(*) AS n FROM generations ${where.length ? `WHERE ${where.map(([c], i) => `${c} = $${i + 1}`).join(' AND ')}` : ''}`;
        const counted = Number((await query<{ n: string }>(db.url, sql, where.map(([, v]) => v)))[0]?.n);
        expect((await storage.generations.page(page)).total, JSON.stringify(page)).to.equal(counted);
      }
      const lookups: Statement[] = [
        { text: 'SELECT id, doc FROM generations WHERE client_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1', values: ['client-9'] },
        { text: 'SELECT id, doc FROM generations WHERE prompt_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1', values: ['p-77'] },
        { text: `SELECT id, doc FROM generations WHERE state IN ('queued', 'running') ORDER BY created_at DESC, id DESC`, values: [] },
      ];
      for (const lookup of lookups) expect((await plan(lookup)).some((n) => n.startsWith('Seq Scan')), lookup.text).to.equal(false);
    });

    it('find dead instances and claim their generations from the small index of unfinished rows, never from the history', async () => {
      const storage = await track(open(db.url));
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        await bulkInsertGenerations(client, { from: 1, to: 20000, template: generationRecord({ id: 'x', createdAt: 'x' }) });
        // A tenth unfinished, held by a live instance; a few of a dead one.
        await client.query(`UPDATE generations SET doc = doc || '{"state": "queued"}', lease_owner = CASE WHEN id LIKE '%00' THEN 'dead-one' ELSE $1 END,
          lease_until = now() - interval '1 minute' WHERE id LIKE '%0'`, [storage.leases.instance]);
        await client.query('VACUUM ANALYZE generations');
      } finally {
        await client.end();
      }
      const statements: Statement[] = [
        { text: LEASE_CLAIM.deadOwners, values: ['someone'] },
        { text: LEASE_CLAIM.claim, values: ['someone', 6000, 100, []] },
        { text: LEASE_CLAIM.claim, values: ['someone', 6000, 100, ['dead-one']] },
      ];
      for (const statement of statements) {
        const nodes = await plan(statement);
        const context = `${statement.text.slice(0, 40)} ${JSON.stringify(statement.values)}: ${nodes.join(' > ')}`;
        expect(nodes.some((n) => n === 'Seq Scan generations' || n === 'Bitmap Heap Scan generations'), context).to.equal(false);
        expect(nodes.some((n) => n.endsWith('generations_owned')), context).to.equal(true);
      }
      expect((await storage.leases.claimExpired(1000)).map((g) => g.id)).to.have.length(200);
    });

    it('leave room in the pages, so updates that change only the document write no index entry (HOT)', async () => {
      const storage = await track(open(db.url));
      const make = numberedGenerations({ start: '2026-03-01T00:00:00.000Z', idPrefix: 'gen_h', idDigits: 4 });
      // About 700 bytes a row: a full page holds eleven, and without free room their first updates could not stay on it.
      const gens = Array.from({ length: 60 }, () => make({ clientId: 'c-hot', state: 'queued', graph: { '1': { class_type: 'CLIPTextEncode', inputs: { text: 'x'.repeat(500) } } } }));
      for (const gen of gens) await storage.generations.insert(gen);
      for (const gen of gens) await storage.generations.update(gen.id, { position: 2 });
      // A backend reports its statistics when it ends (idle ones only every few seconds): close the pool first.
      await storage.close();
      let stats: { upd: string; hot: string } | undefined;
      await until(async () => {
        stats = (await query<{ upd: string; hot: string }>(db.url, `SELECT n_tup_upd::text AS upd, n_tup_hot_upd::text AS hot FROM pg_stat_user_tables WHERE relname = 'generations'`))[0];
        return Number(stats?.upd) >= gens.length;
      }, 'the updates to show in the statistics');
      expect(stats).to.deep.equal({ upd: String(gens.length), hot: String(gens.length) });
    });

    it('trigger-kept tallies equal tallies recomputed from the rows after inserts, updates and prunes', async () => {
      const storage = await track(open(db.url));
      const make = numberedGenerations({ start: '2026-03-01T00:00:00.000Z', idPrefix: 'gen_t', idDigits: 4 });
      const gens: Generation[] = Array.from({ length: 60 }, (_, i) => make({ clientId: `c${i % 7}`, owner: i % 4 ? `k${i % 3}` : null, workflow: `w${i % 2}` }));
      await Promise.all(gens.map((g) => storage.generations.insert(g)));
      await Promise.all(gens.map((g, i) => storage.generations.update(g.id, { state: i % 3 ? 'completed' : 'running', clientId: i % 5 ? g.clientId : 'moved' })));
      await storage.generations.prune({ keep: 25 });
      const snapshot = () => query<{ kind: string; key: string; n: string }>(db.url, 'SELECT kind, key, sum(n)::text AS n FROM generation_tallies GROUP BY 1, 2 HAVING sum(n) <> 0 ORDER BY 1, 2');
      const kept = await snapshot();
      // Ever recorded is stored + pruned (migration 9), by state too: read before recomputing (which knows no pruned rows).
      const counts = await storage.generations.counts();
      // Recomputing leaves out what retention deleted; compare what is stored.
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        await rebuildTallies(client);
      } finally {
        await client.end();
      }
      const rebuilt = await snapshot();
      const stored = (rows: typeof kept) => rows.filter((r) => r.kind.startsWith('stored'));
      expect(stored(kept)).to.deep.equal(stored(rebuilt));
      expect(Number(kept.find((r) => r.kind === 'stored')?.n) + Number(kept.find((r) => r.kind === 'pruned')?.n)).to.equal(60);
      expect(counts.total).to.equal(60);
      const byState = (state: string) => gens.filter((g, i) => (i % 3 ? 'completed' : 'running') === state).length;
      expect(counts.byState).to.include({ completed: byState('completed'), running: byState('running'), queued: 0 });
    });
  });

  describe('active counts (the 429 caps)', () => {
    it('one read gives a client\'s and the whole store\'s queued + running, equal to the counted history filters', async () => {
      const storage = await track(open(db.url));
      const states = ['queued', 'running', 'completed', 'queued', 'failed', 'running', 'queued'] as const;
      for (const [i, state] of states.entries()) {
        await storage.generations.insert(generationRecord({ id: `gen_c${i}`, createdAt: `2026-01-01T00:00:0${i}.000Z`, clientId: i % 2 ? 'client-b' : 'client-a', state }));
      }
      await storage.generations.update('gen_c0', { state: 'running' });
      await storage.generations.update('gen_c1', { state: 'completed' });
      const total = async (clientId: string | undefined, state: 'queued' | 'running') =>
        (await storage.generations.page({ ...(clientId ? { clientId } : {}), state, limit: 1, offset: 0 })).total;
      for (const clientId of ['client-a', 'client-b', 'nobody']) {
        const expected = { client: (await total(clientId, 'queued')) + (await total(clientId, 'running')), all: (await total(undefined, 'queued')) + (await total(undefined, 'running')) };
        expect(await storage.generations.activeCounts(clientId), clientId).to.deep.equal(expected);
      }
      expect(await storage.generations.activeCounts('client-a')).to.deep.equal({ client: 2, all: 4 });
    });
  });

  describe('leases (one per instance, migration 8)', () => {
    const openLeased = (url: string, leaseMs: number, instance?: string) =>
      PostgresStorage.open({ url, poolSize: 4, healthIntervalMs: 0, leaseMs, log: quietLog, ...(instance ? { instance } : {}) });
    /** Instances a and b, `count` queued rows of a (`gen_<prefix>00`…) and one of b (`gen_<prefix>_b`). */
    const twoInstances = async (prefix: string, count: number) => {
      const a = await track(openLeased(db.url, 60_000));
      const b = await track(openLeased(db.url, 60_000));
      const ids = Array.from({ length: count }, (_, i) => `gen_${prefix}${String(i).padStart(2, '0')}`);
      for (const id of ids) await a.generations.insert(generationRecord({ id, createdAt: '2026-01-01T00:00:00.000Z', state: 'queued' }));
      await b.generations.insert(generationRecord({ id: `gen_${prefix}_b`, createdAt: '2026-01-01T00:00:00.000Z', state: 'queued' }));
      return { a, b, ids };
    };
    /** The names of the named statements `storage` sends from now on that start with one of `prefixes`. */
    const namedStatements = (storage: PostgresStorage, prefixes: string[]): string[] => {
      const statements: string[] = [];
      const poolQuery = storage.pool.query.bind(storage.pool) as (...args: unknown[]) => unknown;
      (storage.pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
        const { name } = args[0] as { name?: string };
        if (name !== undefined && prefixes.some((prefix) => name.startsWith(prefix))) statements.push(name);
        return poolQuery(...args);
      };
      return statements;
    };
    const versions = async (ids: string[]) =>
      (await query<{ id: string; v: string }>(db.url, `SELECT id, xmin::text AS v FROM generations WHERE id = ANY($1::text[]) ORDER BY id`, [ids])).map((r) => `${r.id}@${r.v}`);

    it('concurrent renewals and announcements of one instance share statements, each answered for its own rows', async () => {
      const { a, b, ids } = await twoInstances('r', 12);
      const statements = namedStatements(a, ['leases_']);
      // One call per generation, as the runner makes them; B's row is not A's to renew.
      const renewed = await Promise.all([...ids.map((id) => a.leases.renew([id])), a.leases.renew(['gen_r_b', ids[0]!])]);
      expect(renewed).to.deep.equal([...ids.map((id) => [id]), [ids[0]]]);
      expect(statements.filter((name) => name === 'leases_renew').length).to.be.within(2, 5);
      // Ended and announced: end_pending cleared for A's rows only, in fewer statements than calls.
      await Promise.all(ids.map((id) => a.generations.update(id, { state: 'completed' })));
      await Promise.all([...ids.map((id) => a.leases.announced([id])), a.leases.announced(['gen_r_b'])]);
      expect(statements.filter((name) => name === 'leases_announced').length).to.be.within(2, 5);
      const pending = await query<{ id: string }>(db.url, `SELECT id FROM generations WHERE end_pending ORDER BY id`);
      expect(pending.map((r) => r.id)).to.deep.equal([]);
      await b.generations.update('gen_r_b', { state: 'failed' });
      await a.leases.announced(['gen_r_b']);
      expect((await query<{ id: string }>(db.url, `SELECT id FROM generations WHERE end_pending`)).map((r) => r.id)).to.deep.equal(['gen_r_b']);
    });

    it('renew the instance with one row whatever it holds; its generations are claimed only once it lapses, and it learns so', async () => {
      const a = await track(openLeased(db.url, 2000));
      const b = await track(openLeased(db.url, 2000));
      const gens = Array.from({ length: 50 }, (_, i) => generationRecord({ id: `gen_l${String(i).padStart(2, '0')}`, createdAt: '2026-01-01T00:00:00.000Z', state: 'queued' }));
      for (const gen of gens) await a.generations.insert(gen);
      const ids = gens.map((g) => g.id);
      await a.leases.heartbeat();
      const before = await versions(ids);
      // A's heartbeats hold all 50 rows without writing any of them, well past each row's own grace.
      const deadline = Date.now() + 3000;
      while (Date.now() < deadline) {
        expect(await a.leases.heartbeat()).to.equal(true);
        expect(await b.leases.claimExpired(100)).to.deep.equal([]);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(await versions(ids)).to.deep.equal(before);

      // A stops renewing (a frozen or dead process): B claims them all once A's lease ran out.
      const claimed = await until(async () => {
        const got = await b.leases.claimExpired(100);
        return got.length > 0 ? got : undefined;
      }, 'A\'s generations to be claimed');
      expect(claimed.map((g) => g.id).sort()).to.deep.equal(ids);
      expect(await b.leases.claimExpired(100)).to.deep.equal([]);
      // A comes back: its renewal says it lapsed, and it holds none of them any more.
      expect(await a.leases.heartbeat()).to.equal(false);
      expect(await a.leases.renew(ids)).to.deep.equal([]);
      expect(await a.leases.heartbeat()).to.equal(true);
      const owners = await query<{ lease_owner: string }>(db.url, `SELECT DISTINCT lease_owner FROM generations WHERE id = ANY($1::text[])`, [ids]);
      expect(owners.map((o) => o.lease_owner)).to.deep.equal([b.leases.instance]);
    });

    it('a new row is not claimed within its grace even when its instance lapsed; a closed instance\'s rows go at once when released', async () => {
      const a = await track(openLeased(db.url, 60_000));
      const b = await track(openLeased(db.url, 60_000));
      await a.generations.insert(generationRecord({ id: 'gen_fresh', createdAt: '2026-01-01T00:00:00.000Z', state: 'queued' }));
      await query(db.url, `UPDATE bridge_instances SET expires_at = now() - interval '1 second' WHERE id = $1`, [a.leases.instance]);
      expect(await b.leases.claimExpired(100)).to.deep.equal([]);
      await a.leases.release(['gen_fresh']);
      expect((await b.leases.claimExpired(100)).map((g) => g.id)).to.deep.equal(['gen_fresh']);
    });

    it('a process reopening with the same instance id hands over what the previous one left', async () => {
      const first = await openLeased(db.url, 60_000, 'fixed-instance');
      await first.generations.insert(generationRecord({ id: 'gen_left', createdAt: '2026-01-01T00:00:00.000Z', state: 'running' }));
      await first.pool.end(); // killed: no release, no retire; its lease would last another minute
      const again = await track(openLeased(db.url, 60_000, 'fixed-instance'));
      await query(db.url, `UPDATE generations SET lease_until = now() - interval '1 second' WHERE id = 'gen_left'`); // past the insert's grace
      expect((await again.leases.claimExpired(100)).map((g) => g.id)).to.deep.equal(['gen_left']);
    });

    it('writes with owned renew the row\'s lease in their own statement and skip another instance\'s rows; lazy ones go beside the durable ones, a row\'s writes in order', async () => {
      const { a, ids } = await twoInstances('o', 20);
      const leaseUntil = async () =>
        new Map((await query<{ id: string; until: string }>(db.url, `SELECT id, lease_until::text AS until FROM generations ORDER BY id`)).map((r) => [r.id, r.until]));
      const before = await leaseUntil();
      const statements = namedStatements(a, ['generations_update', 'leases_']);
      // As the runner writes at once: progress (lazy) of some, ends (owned) of others, one row's progress then its end.
      const written = await Promise.all([
        ...ids.slice(0, 10).map((id, i) => a.generations.write(id, { state: 'running', percent: i }, { lazy: true })),
        ...ids.slice(10).map((id) => a.generations.write(id, { state: 'completed', percent: 100 }, { owned: true })),
        a.generations.write(ids[0]!, { state: 'interrupted', percent: 50 }, { owned: true }),
        a.generations.write('gen_o_b', { state: 'completed' }, { owned: true }),
      ]);
      expect(written).to.deep.equal([...ids.map(() => true), true, false]);
      const rows = await Promise.all([...ids, 'gen_o_b'].map((id) => a.generations.get(id)));
      expect(rows.map((g) => `${g?.state} ${g?.percent}`)).to.deep.equal([
        'interrupted 50',
        ...ids.slice(1, 10).map((_, i) => `running ${i + 1}`),
        ...ids.slice(10).map(() => 'completed 100'),
        'queued 0',
      ]);
      // The ends renewed their lease (a fresh minute from their write); progress and B's row kept theirs.
      const after = await leaseUntil();
      for (const id of [ids[0]!, ...ids.slice(10)]) expect(after.get(id)! > before.get(id)!, id).to.equal(true);
      for (const id of [...ids.slice(1, 10), 'gen_o_b']) expect(after.get(id), id).to.equal(before.get(id));
      expect(statements.some((name) => name.includes('_lazy')), 'a lazy statement').to.equal(true);
      expect(statements.filter((name) => name.includes('_lazy') && name.includes('_owned')), 'no end in a lazy statement').to.deep.equal([]);
      expect(statements.some((name) => name.includes('_owned')), 'an owned statement').to.equal(true);
      expect(statements.filter((name) => name.startsWith('leases_')), 'no renewal of its own').to.deep.equal([]);
      expect((await a.generations.counts()).byState).to.include({ queued: 1, running: 9, completed: 10, interrupted: 1 });
      // An end asked for lazily is still written durably (never an asynchronous commit).
      statements.length = 0;
      expect(await a.generations.write(ids[1]!, { state: 'failed', error: 'x' }, { lazy: true })).to.equal(true);
      expect(statements).to.deep.equal(['generations_update_ids']);
    });

    it('writes get only ids back from PostgreSQL, updates their rows; a batch with both returns the rows and answers each as asked', async () => {
      const { a, ids } = await twoInstances('r', 6);
      // The columns of every generations_update answer, by statement name.
      const answers: string[] = [];
      const poolQuery = a.pool.query.bind(a.pool) as (...args: unknown[]) => Promise<{ fields: { name: string }[] }>;
      (a.pool as unknown as { query: (...args: unknown[]) => unknown }).query = async (...args: unknown[]) => {
        const result = await poolQuery(...args);
        const { name } = args[0] as { name?: string };
        if (name?.startsWith('generations_update')) answers.push(`${name}: ${result.fields.map((f) => f.name).join(', ')}`);
        return result;
      };
      expect(await a.generations.write(ids[0]!, { state: 'running', percent: 1 })).to.equal(true);
      expect(await a.generations.write(ids[1]!, { state: 'running', percent: 2 }, { lazy: true })).to.equal(true);
      expect(await a.generations.write(ids[2]!, { state: 'completed', percent: 100 }, { owned: true })).to.equal(true);
      expect(await a.generations.write('gen_none', { state: 'running' })).to.equal(false);
      expect(await a.generations.update(ids[3]!, { state: 'running', percent: 3 })).to.include({ id: ids[3], state: 'running', percent: 3 });
      expect(answers).to.deep.equal([
        'generations_update_ids: id',
        'generations_update_lazy_ids: id',
        'generations_update_owned_ids: id',
        'generations_update_ids: id',
        'generations_update: id, doc',
      ]);
      // Several at once, writes and updates mixed: one statement with the rows; each caller answered as it asked.
      answers.length = 0;
      const [written, updated, missing] = await Promise.all([
        a.generations.write(ids[4]!, { state: 'running', percent: 4 }),
        a.generations.update(ids[5]!, { state: 'running', percent: 5 }),
        a.generations.write('gen_none', { percent: 1 }),
        a.generations.write(ids[0]!, { percent: 9 }),
      ]);
      expect([written, missing]).to.deep.equal([true, false]);
      expect(updated).to.include({ id: ids[5], state: 'running', percent: 5 });
      expect(answers.some((answer) => answer.endsWith(': id, doc'))).to.equal(true);
      expect((await a.generations.get(ids[0]!))?.percent).to.equal(9);
    });
  });

  describe('group commit of inserts', () => {
    it('concurrent inserts share statements; each resolves committed, and a duplicate fails alone', async () => {
      const storage = await track(open(db.url));
      const statements: string[] = [];
      const query = storage.pool.query.bind(storage.pool) as (...args: unknown[]) => unknown;
      (storage.pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
        const config = args[0] as { name?: string };
        if (config.name?.startsWith('generations_insert')) statements.push(config.name);
        return query(...args);
      };
      const make = numberedGenerations({ start: '2026-05-01T00:00:00.000Z', idPrefix: 'gen_b', idDigits: 3 });
      const gens = Array.from({ length: 40 }, (_, i) => make({ clientId: `c${i % 3}` }));
      await storage.generations.insert(gens[7]!);
      const outcomes = await Promise.allSettled(gens.map((g) => storage.generations.insert(g)));
      // The one already stored is refused; every other caller got its row.
      expect(outcomes.map((o, i) => (o.status === 'rejected' ? i : -1)).filter((i) => i >= 0)).to.deep.equal([7]);
      expect(((outcomes[7] as PromiseRejectedResult).reason as { code?: string }).code).to.equal('23505');
      expect((await storage.generations.page({ limit: 100, offset: 0 })).items.map((g) => g.id)).to.deep.equal(gens.map((g) => g.id).reverse());
      // Fewer statements than rows: the 40 went in a few multi-row statements (then one by one for the failed one's).
      expect(statements.filter((name) => name === 'generations_insert_many').length).to.be.within(1, 3);
      // Counted once per statement, summed: the tallies equal the ones recomputed from the rows.
      expect((await storage.generations.page({ clientId: 'c1', limit: 1, offset: 0 })).total).to.equal(gens.filter((g) => g.clientId === 'c1').length);
      expect(await storage.generations.activeCounts('c0')).to.deep.equal({ client: gens.filter((g) => g.clientId === 'c0').length, all: 40 });
      expect((await storage.generations.counts()).total).to.equal(40);
    });
  });

  describe('group commit of updates', () => {
    it('concurrent updates share statements; each resolves with its row, one row\'s updates keep their order, and a bad one fails alone', async () => {
      const storage = await track(open(db.url));
      const make = numberedGenerations({ start: '2026-05-02T00:00:00.000Z', idPrefix: 'gen_u', idDigits: 3 });
      const gens = Array.from({ length: 30 }, (_, i) => make({ clientId: `c${i % 3}`, state: 'queued' }));
      await Promise.all(gens.map((g) => storage.generations.insert(g)));
      const statements: string[] = [];
      const query = storage.pool.query.bind(storage.pool) as (...args: unknown[]) => unknown;
      (storage.pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
        const config = args[0] as { name?: string };
        if (config.name?.startsWith('generations_update')) statements.push(config.name);
        return query(...args);
      };
      const updates: Promise<Generation | undefined>[] = gens.map((g, i) => storage.generations.update(g.id, i === 0 ? ({ clientId: null } as unknown as Partial<Generation>) : { state: 'running', percent: i }));
      // The same row again at once: it must land after its first update, never in the same statement.
      updates.push(storage.generations.update(gens[10]!.id, { state: 'completed', percent: 100 }));
      updates.push(storage.generations.update('gen_none', { state: 'running' }));
      const outcomes = await Promise.allSettled(updates);
      // The row with no client id is refused (NOT NULL); every other caller got its row as stored.
      expect(outcomes.map((o, i) => (o.status === 'rejected' ? i : -1)).filter((i) => i >= 0)).to.deep.equal([0]);
      expect(((outcomes[0] as PromiseRejectedResult).reason as { code?: string }).code).to.equal('23502');
      const answered = outcomes.map((o) => (o.status === 'fulfilled' ? o.value : null));
      expect(answered.slice(1, 30).map((g) => `${g?.id} ${g?.state} ${g?.percent}`)).to.deep.equal(gens.slice(1).map((g, i) => `${g.id} running ${i + 1}`));
      expect(answered[30]).to.include({ id: gens[10]!.id, state: 'completed', percent: 100 });
      expect(answered[31]).to.equal(undefined);
      expect(await storage.generations.get(gens[10]!.id)).to.include({ state: 'completed', percent: 100 });
      expect(await storage.generations.get(gens[0]!.id)).to.include({ state: 'queued', clientId: 'c0' });
      // Fewer statements than updates: the first two alone (nothing was on its way), then multi-row ones.
      expect(statements.filter((name) => name === 'generations_update_many').length).to.be.within(1, 4);
      expect(statements.length).to.be.below(updates.length);
      // The state tallies moved with every row of every statement.
      expect((await storage.generations.counts()).byState).to.include({ queued: 1, running: 28, completed: 1 });
      expect(await storage.generations.activeCounts('c0')).to.deep.equal({ client: 10, all: 29 });
    });
  });

  describe('options', () => {
    it('statementTimeoutMs cancels a slower statement on the server; the pool keeps working', async () => {
      const storage = await track(PostgresStorage.open({ url: db.url, statementTimeoutMs: 200, healthIntervalMs: 0, log: quietLog }));
      expect((await storage.pool.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows[0]?.statement_timeout).to.equal('200ms');
      let failure: unknown;
      await storage.pool.query('SELECT pg_sleep(2)').catch((error: unknown) => (failure = error));
      expect((failure as Error).message).to.include('statement timeout');
      expect(await storage.generations.counts()).to.deep.include({ total: 0 });
    });
  });

  describe('several instances on one database', () => {
    it('see each other’s writes at once, and keep the counts right under concurrent writers', async () => {
      const a = await track(open(db.url));
      const b = await track(open(db.url));
      const make = numberedGenerations({ start: '2026-02-01T00:00:00.000Z', idPrefix: 'gen_s', idDigits: 4 });
      const gens = Array.from({ length: 30 }, () => make());
      await Promise.all(gens.map((g, i) => (i % 2 ? a : b).generations.insert(g)));
      expect((await a.generations.page({ limit: 100, offset: 0 })).items.map((g) => g.id)).to.deep.equal(gens.map((g) => g.id).reverse());
      // Both instances move the same generations at once.
      await Promise.all(gens.flatMap((g) => [a.generations.update(g.id, { state: 'running', percent: 10 }), b.generations.update(g.id, { state: 'completed' })]));
      const counts = await b.generations.counts();
      expect(counts.total).to.equal(30);
      const states = await Promise.all(gens.map(async (g) => (await a.generations.get(g.id))?.state));
      const expected = { queued: 0, running: 0, completed: 0, failed: 0, interrupted: 0 };
      for (const state of states) expected[state as keyof typeof expected]++;
      expect(counts.byState).to.deep.equal(expected);
      await a.kv.set('comfyClientId', 'shared');
      expect(await b.kv.get('comfyClientId')).to.equal('shared');
    });
  });

  describe('plugin', () => {
    let bridge: RunningBridge | undefined;
    let dataDir: string | undefined;

    afterEach(async () => {
      await bridge?.close();
      bridge = undefined;
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
      dataDir = undefined;
    });

    const readyBody = async (url: string) => (await (await fetch(`${url}/ready`)).json()) as { storage: boolean; reasons: string[] };

    it('provides storage, and /ready follows the database going away and coming back', async () => {
      const holder: { storage?: Storage } = {};
      bridge = await startBridge({
        plugins: { util: {}, 'storage-postgres': { url: db.url, healthIntervalMs: 100, connectTimeoutMs: 500 } },
        extraPlugins: [grabbing('storage-probe', ['storage'], holder)],
      });
      expect(holder.storage?.isOpen()).to.equal(true);
      expect((await readyBody(bridge.url)).storage).to.equal(true);

      await adminQuery(`ALTER DATABASE ${db.name} WITH ALLOW_CONNECTIONS false`);
      await adminQuery('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [db.name]);
      const down = await until(async () => {
        const body = await readyBody(bridge!.url);
        return body.storage === false && body;
      }, 'storage reported down', 5000);
      expect(down.reasons).to.include('storage is not open');

      await adminQuery(`ALTER DATABASE ${db.name} WITH ALLOW_CONNECTIONS true`);
      await until(async () => (await readyBody(bridge!.url)).storage, 'storage reported up again', 5000);
      await holder.storage?.generations.insert(generationRecord({ id: 'gen_after', createdAt: '2026-01-01T00:00:00.000Z' }));
      expect((await holder.storage?.generations.get('gen_after'))?.id).to.equal('gen_after');
    });

    it('config/postgres.example.yaml and COMFY_BRIDGE_DATABASE_URL start the default bridge on PostgreSQL', async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'storage-postgres-'));
      const config = await loadConfig({
        file: 'config/postgres.example.yaml',
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        env: { COMFY_BRIDGE_DATABASE_URL: db.url },
        flags: {
          dataDir,
          log: { level: 'silent' },
          server: { port: 0 },
          plugins: { comfyui: { backends: [{ url: 'http://127.0.0.1:9' }] }, workflows: { watch: false } },
        },
      });
      expect(config.plugins['storage-nedb']).to.equal(false);
      expect(config.plugins.bus).to.equal(false);
      expect((config.plugins['bus-postgres'] as { url: string }).url).to.equal(db.url);
      expect((config.plugins['storage-postgres'] as { url: string; poolSize: number }).url).to.equal(db.url);
      expect((config.plugins['storage-postgres'] as { url: string; poolSize: number }).poolSize).to.equal(10);
      const app = await createApp(config);
      try {
        const { url } = await app.start();
        expect((await readyBody(url)).storage).to.equal(true);
        const count = (await (await fetch(`${url}/generation-count`)).json()) as { generation_count: number };
        expect(count.generation_count).to.equal(0);
        const tables = await query<{ n: string }>(db.url, 'SELECT count(*) AS n FROM schema_migrations');
        expect(Number(tables[0]?.n)).to.equal(MIGRATIONS.length);
      } finally {
        await app.close();
      }
    });

    it('fails to start with a BootError that names the database but not its password', async () => {
      const wrong = db.url.replace(/:[^:@/]+@/, ':not-the-password@');
      let failure: unknown;
      await startBridge({ plugins: { 'storage-postgres': { url: wrong } } }).catch((error: unknown) => (failure = error));
      expect((failure as Error).name).to.equal('BootError');
      expect((failure as Error).message).to.include(db.name).and.include('***').and.not.include('not-the-password');
    });

    it('requires a postgres:// url and rejects unknown options, naming the plugin and the key', async () => {
      for (const [options, key] of [
        [{}, 'url'],
        [{ url: 'mysql://x/y' }, 'url'],
        [{ url: db.url, pool: 3 }, 'pool'],
      ] as const) {
        let failure: unknown;
        await startBridge({ plugins: { 'storage-postgres': options } }).catch((error: unknown) => (failure = error));
        expect((failure as Error).message, JSON.stringify(options)).to.include('storage-postgres').and.include(key);
      }
    });

    it('applies retention at start: old finished rows go, their result folders through the results service; counts stay', async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'storage-postgres-'));
      const seed = await open(db.url);
      const old = generationRecord({ id: 'gen_old', createdAt: '2020-01-01T00:00:00.000Z', state: 'completed', uploads: ['in.png'] });
      const oldQueued = generationRecord({ id: 'gen_oldq', createdAt: '2020-01-02T00:00:00.000Z' });
      const recent = generationRecord({ id: 'gen_new', createdAt: new Date().toISOString(), state: 'completed' });
      await seed.uploads.insert({ name: 'in.png', clientId: 'client-a', owner: null, field: 'image', contentType: 'image/png', size: 1, width: 1, height: 1, createdAt: '2020-01-01T00:00:00.000Z', usedBy: [] });
      await seed.uploads.markUsed('in.png', old.id);
      for (const gen of [old, oldQueued, recent]) {
        await seed.generations.insert(gen);
        await mkdir(join(dataDir, 'results', gen.id), { recursive: true });
        await writeFile(join(dataDir, 'results', gen.id, 'out.png'), 'x');
      }
      await seed.close();

      const holder: { storage?: Storage } = {};
      bridge = await startBridge({
        plugins: { 'storage-postgres': { url: db.url, retention: { maxAgeDays: 30 } }, results: {} },
        config: { dataDir },
        extraPlugins: [grabbing('storage-probe', ['storage'], holder)],
      });
      const storage = holder.storage as Storage;
      expect(await storage.generations.get(old.id)).to.equal(undefined);
      expect(existsSync(join(dataDir, 'results', old.id))).to.equal(false);
      expect((await storage.uploads.get('in.png'))?.usedBy).to.deep.equal([]);
      expect((await storage.generations.get(oldQueued.id))?.state).to.equal('queued');
      expect(existsSync(join(dataDir, 'results', recent.id, 'out.png'))).to.equal(true);
      expect((await storage.generations.counts()).total).to.equal(3);
    });
  });
});
