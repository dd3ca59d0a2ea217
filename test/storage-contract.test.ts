import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Generation, GenerationState } from '../contracts/generation.js';
import type { GenerationStore, IdempotencyRecord, Storage, UploadRecord } from '../contracts/storage.js';
import { NedbStorage } from '../plugins/storage-nedb/nedb-storage.js';
import { PostgresStorage } from '../plugins/storage-postgres/pg-storage.js';
import { numberedGenerations } from './helpers/generation.js';
import { createTestDatabase } from './helpers/postgres.js';
import { until } from './helpers/until.js';

const LEASE_MS = 300;
const quietLog = { warn: () => undefined, info: () => undefined };

const makeGeneration = numberedGenerations({
  start: '2026-01-01T00:00:00.000Z',
  idPrefix: 'gen_',
  idDigits: 6,
  defaults: { graph: { '1': { class_type: 'EmptyImage', inputs: { width: 64, 'odd.key': 1, $weird: true } } } },
});

function makeClaim(key: string, ref: string, createdAt: string, fingerprint = 'f1'): IdempotencyRecord {
  return { scope: 'key:k1', key, fingerprint, ref, createdAt, answer: null };
}

function makeUpload(name: string, createdAt: string, usedBy: string[] = []): UploadRecord {
  return { name, clientId: 'client-a', owner: null, field: 'image', contentType: 'image/png', size: 10, width: 1, height: 1, createdAt, usedBy };
}

/** What the suite needs of a backend: the contract, getByPromptId (optional in it) and close. */
type ContractStorage = Storage & {
  generations: GenerationStore & Required<Pick<GenerationStore, 'getByPromptId'>>;
  close(): Promise<void>;
};

interface Backend {
  name: string;
  /** Whether what was written survives a close and a reopen. */
  durable: boolean;
  /** Whether several instances may open the same place at once (each with its own leases). */
  shared: boolean;
  /** A fresh, empty place to store into; `open` may be called again after a close (reopen). */
  prepare(): Promise<{ open(): Promise<ContractStorage>; cleanup(): Promise<void> }>;
}

const nedb = (mode: 'in-memory' | 'file'): Backend => ({
  name: `storage-nedb (${mode})`,
  durable: mode === 'file',
  shared: false,
  async prepare() {
    const dataDir = await mkdtemp(join(tmpdir(), 'storage-contract-'));
    return {
      open: () => NedbStorage.open({ dataDir, inMemory: mode === 'in-memory', log: quietLog }),
      cleanup: () => rm(dataDir, { recursive: true, force: true }),
    };
  },
});

/** A database of its own on the test PostgreSQL server (test/helpers/postgres.ts), migrated at open. */
const postgres: Backend = {
  name: 'storage-postgres',
  durable: true,
  shared: true,
  async prepare() {
    const database = await createTestDatabase();
    return {
      // Short leases, so the lease tests see one run out.
      open: () => PostgresStorage.open({ url: database.url, poolSize: 4, healthIntervalMs: 0, leaseMs: LEASE_MS, log: quietLog }),
      cleanup: () => database.drop(),
    };
  },
};

// One suite, every backend: whatever the bridge may rely on must hold for each of them.
for (const backend of [nedb('in-memory'), nedb('file'), postgres]) {
  describe(`storage contract: ${backend.name}`, () => {
    let place: Awaited<ReturnType<Backend['prepare']>>;
    let storage: ContractStorage;

    beforeEach(async () => {
      place = await backend.prepare();
      storage = await place.open();
    });

    afterEach(async () => {
      await storage.close();
      await place.cleanup();
    });

    it('is open until closed', async () => {
      expect(storage.isOpen()).to.equal(true);
      await storage.close();
      expect(storage.isOpen()).to.equal(false);
    });

    it('round-trips a generation, graph keys nedb would refuse included', async () => {
      const gen = makeGeneration();
      await storage.generations.insert(gen);
      expect(await storage.generations.get(gen.id)).to.deep.equal(gen);
      expect(await storage.generations.get('gen_missing')).to.equal(undefined);
    });

    it('round-trips text in any script, and filters on it', async () => {
      const gen = makeGeneration({ clientId: 'клиент-🎨', workflow: '画像生成', error: 'café \\ "quoted" \n tab\t' });
      gen.graph = { '6': { class_type: 'CLIPTextEncode', inputs: { text: 'ein schönes Bild, 夕焼け, 🌅' } } };
      await storage.generations.insert(gen);
      expect(await storage.generations.get(gen.id)).to.deep.equal(gen);
      const page = await storage.generations.page({ limit: 10, offset: 0, clientId: 'клиент-🎨', workflow: '画像生成' });
      expect(page.items.map((g) => g.id)).to.deep.equal([gen.id]);
      expect(page.total).to.equal(1);
    });

    it('many concurrent inserts and updates: every row, page total and count agree', async () => {
      const gens = Array.from({ length: 40 }, (_, i) => makeGeneration({ clientId: `c${i % 4}` }));
      await Promise.all(gens.map((gen) => storage.generations.insert(gen)));
      await Promise.all(gens.map((gen, i) => storage.generations.update(gen.id, { state: i % 2 ? 'completed' : 'running' })));
      expect((await storage.generations.page({ limit: 100, offset: 0 })).total).to.equal(40);
      expect((await storage.generations.page({ limit: 100, offset: 0, clientId: 'c1' })).items).to.have.length(10);
      expect((await storage.generations.page({ limit: 100, offset: 0, clientId: 'c1' })).total).to.equal(10);
      expect((await storage.generations.page({ limit: 100, offset: 0, state: 'running' })).total).to.equal(20);
      expect(await storage.generations.counts()).to.deep.equal({
        total: 40,
        byState: { queued: 0, running: 20, completed: 20, failed: 0, interrupted: 0 },
      });
    });

    it('refuses a second insert with the same id', async () => {
      const gen = makeGeneration();
      await storage.generations.insert(gen);
      let failure: unknown;
      await storage.generations.insert(gen).catch((error: unknown) => (failure = error));
      expect(failure).to.be.instanceOf(Error);
      expect((await storage.generations.counts()).total).to.equal(1);
    });

    it('returns copies: mutating a result never changes the store', async () => {
      const gen = makeGeneration();
      await storage.generations.insert(gen);
      gen.workflow = 'mutated-after-insert';
      const read = (await storage.generations.get(gen.id)) as Generation;
      expect(read.workflow).to.equal('text-to-image');
      read.results.push({ filename: 'x.png', contentType: 'image/png', size: 1, node: '9', kind: 'images' });
      (read.graph['1'] as { inputs: Record<string, unknown> }).inputs.width = 999;
      const again = (await storage.generations.get(gen.id)) as Generation;
      expect(again.results).to.deep.equal([]);
      expect(again.graph['1']?.inputs.width).to.equal(64);
      const page = await storage.generations.page({ limit: 10, offset: 0 });
      (page.items[0] as Generation).state = 'failed';
      expect((await storage.generations.get(gen.id))?.state).to.equal('queued');
    });

    it('pages newest first with offset/limit arithmetic and a total', async () => {
      const gens = Array.from({ length: 25 }, () => makeGeneration());
      // Inserted out of order: the order must come from createdAt, not from insertion.
      for (const gen of [...gens].reverse()) await storage.generations.insert(gen);
      const newestFirst = gens.map((g) => g.id).reverse();

      const first = await storage.generations.page({ limit: 10, offset: 0 });
      expect(first.total).to.equal(25);
      expect(first.items.map((g) => g.id)).to.deep.equal(newestFirst.slice(0, 10));
      const third = await storage.generations.page({ limit: 10, offset: 20 });
      expect(third.items.map((g) => g.id)).to.deep.equal(newestFirst.slice(20));
      const odd = await storage.generations.page({ limit: 7, offset: 3 });
      expect(odd.items.map((g) => g.id)).to.deep.equal(newestFirst.slice(3, 10));
      const beyond = await storage.generations.page({ limit: 10, offset: 100 });
      expect(beyond).to.deep.equal({ items: [], total: 25 });
    });

    it('breaks createdAt ties by id, newest (highest id) first', async () => {
      const at = '2026-02-02T00:00:00.000Z';
      for (const id of ['gen_b', 'gen_c', 'gen_a']) await storage.generations.insert(makeGeneration({ id, createdAt: at }));
      const page = await storage.generations.page({ limit: 10, offset: 0 });
      expect(page.items.map((g) => g.id)).to.deep.equal(['gen_c', 'gen_b', 'gen_a']);
    });

    it('filters by clientId, owner, workflow and state, alone and combined', async () => {
      const rows: Generation[] = [
        makeGeneration({ clientId: 'a', owner: 'key1', workflow: 'w1', state: 'completed' }),
        makeGeneration({ clientId: 'b', owner: 'key1', workflow: 'w2', state: 'failed' }),
        makeGeneration({ clientId: 'a', owner: 'key2', workflow: 'w1', state: 'failed' }),
        makeGeneration({ clientId: 'a', owner: null, workflow: 'w2', state: 'completed' }),
        makeGeneration({ clientId: 'c', owner: 'key2', workflow: 'w1', state: 'completed' }),
      ];
      for (const row of rows) await storage.generations.insert(row);
      const ids = async (q: Record<string, string>) =>
        (await storage.generations.page({ limit: 100, offset: 0, ...q })).items.map((g) => g.id);
      const [g0, g1, g2, g3, g4] = rows.map((r) => r.id);

      expect(await ids({ clientId: 'a' })).to.deep.equal([g3, g2, g0]);
      expect(await ids({ owner: 'key1' })).to.deep.equal([g1, g0]);
      expect(await ids({ workflow: 'w1' })).to.deep.equal([g4, g2, g0]);
      expect(await ids({ state: 'failed' })).to.deep.equal([g2, g1]);
      expect(await ids({ clientId: 'a', workflow: 'w1' })).to.deep.equal([g2, g0]);
      expect(await ids({ clientId: 'a', workflow: 'w1', state: 'completed', owner: 'key1' })).to.deep.equal([g0]);
      expect(await ids({ clientId: 'nobody' })).to.deep.equal([]);
      expect(await ids({ owner: 'key2', state: 'running' })).to.deep.equal([]);

      const combined = await storage.generations.page({ limit: 1, offset: 1, clientId: 'a', state: 'completed' });
      expect(combined.total).to.equal(2);
      expect(combined.items.map((g) => g.id)).to.deep.equal([g0]);
    });

    it('update applies a patch, returns the updated copy, and re-files changed fields', async () => {
      const gen = makeGeneration();
      await storage.generations.insert(gen);
      const updated = await storage.generations.update(gen.id, {
        state: 'running',
        percent: 42.5,
        doneNodes: ['1'],
        startedAt: '2026-01-01T01:00:00.000Z',
        node: undefined,
      });
      expect(updated).to.deep.include({ id: gen.id, state: 'running', percent: 42.5, doneNodes: ['1'], node: null, clientId: gen.clientId });
      expect(await storage.generations.get(gen.id)).to.deep.equal(updated);
      expect((await storage.generations.page({ limit: 10, offset: 0, state: 'queued' })).total).to.equal(0);
      expect((await storage.generations.page({ limit: 10, offset: 0, state: 'running' })).total).to.equal(1);

      await storage.generations.update(gen.id, { clientId: 'moved' });
      expect((await storage.generations.page({ limit: 10, offset: 0, clientId: gen.clientId })).total).to.equal(0);
      expect((await storage.generations.latestForClient('moved'))?.id).to.equal(gen.id);

      const graph = { '2': { class_type: 'SaveImage', inputs: {} } };
      expect((await storage.generations.update(gen.id, { graph }))?.graph).to.deep.equal(graph);
      expect(await storage.generations.update('gen_missing', { state: 'failed' })).to.equal(undefined);
    });

    it('write applies a patch like update, re-files and counts it, and says only whether it wrote', async () => {
      const gen = makeGeneration();
      await storage.generations.insert(gen);
      expect(await storage.generations.write(gen.id, { percent: 12.5, node: '3', step: 4, maxSteps: 20, doneNodes: ['1'] })).to.equal(true);
      expect(await storage.generations.get(gen.id)).to.deep.include({ state: 'queued', percent: 12.5, node: '3', step: 4, maxSteps: 20, doneNodes: ['1'] });
      await storage.generations.write(gen.id, { state: 'running', startedAt: '2026-01-01T01:00:00.000Z' });
      expect((await storage.generations.page({ limit: 10, offset: 0, state: 'running' })).total).to.equal(1);
      expect((await storage.generations.counts()).byState.queued).to.equal(0);
      await storage.generations.write(gen.id, { state: 'completed', percent: 100 });
      const done = (await storage.generations.get(gen.id)) as Generation;
      expect(done).to.deep.include({ state: 'completed', percent: 100, startedAt: '2026-01-01T01:00:00.000Z', clientId: gen.clientId });
      expect(done.graph, 'a final row drops its graph').to.deep.equal({});
      expect(await storage.generations.write('gen_missing', { state: 'failed' })).to.equal(false);
      expect(await storage.generations.get('gen_missing')).to.equal(undefined);
    });

    it('write with owned: the lease\'s holder writes (lazy or not) and keeps the lease; an unknown id writes nothing', async () => {
      const gen = makeGeneration({ state: 'queued' });
      await storage.generations.insert(gen);
      expect(await storage.generations.write(gen.id, { state: 'running', percent: 5 }, { lazy: true, owned: true })).to.equal(true);
      expect(await storage.generations.write(gen.id, { state: 'completed', percent: 100 }, { owned: true })).to.equal(true);
      expect(await storage.generations.get(gen.id)).to.deep.include({ state: 'completed', percent: 100 });
      expect((await storage.generations.counts()).byState).to.deep.include({ running: 0, completed: 1 });
      // Still this instance's (an end stays leased until announced): nobody else may claim it.
      expect(await storage.leases.renew([gen.id])).to.deep.equal([gen.id]);
      expect(await storage.generations.write('gen_missing', { state: 'failed' }, { owned: true })).to.equal(false);
      expect(await storage.generations.get('gen_missing')).to.equal(undefined);
    });

    it('concurrent updates keep the counters consistent', async () => {
      const gen = makeGeneration();
      await storage.generations.insert(gen);
      await Promise.all([
        storage.generations.update(gen.id, { state: 'running' }),
        storage.generations.update(gen.id, { percent: 10 }),
        storage.generations.update(gen.id, { state: 'completed' }),
      ]);
      // Concurrent calls may land in any order (PostgreSQL runs them on a pool; the generations runner orders a
      // row's writes itself): whichever state the row ends in, the counters say exactly that.
      const stored = (await storage.generations.get(gen.id))?.state;
      expect(stored).to.be.oneOf(['running', 'completed']);
      const counts = await storage.generations.counts();
      expect(counts.byState).to.deep.equal({ queued: 0, running: 0, completed: 0, failed: 0, interrupted: 0, [stored!]: 1 });
    });

    it('finds by promptId and the latest generation of a client', async () => {
      const older = makeGeneration({ clientId: 'x' });
      const newer = makeGeneration({ clientId: 'x' });
      await storage.generations.insert(newer);
      await storage.generations.insert(older);
      expect((await storage.generations.latestForClient('x'))?.id).to.equal(newer.id);
      expect(await storage.generations.latestForClient('nobody')).to.equal(undefined);
      expect((await storage.generations.getByPromptId(older.promptId))?.id).to.equal(older.id);
      expect(await storage.generations.getByPromptId('nope')).to.equal(undefined);
    });

    it('lists unfinished generations (queued and running only)', async () => {
      const states: GenerationState[] = ['queued', 'running', 'completed', 'failed', 'interrupted', 'queued'];
      const rows = states.map((state) => makeGeneration({ state }));
      for (const row of rows) await storage.generations.insert(row);
      const unfinished = await storage.generations.unfinished();
      expect(unfinished.map((g) => g.id).sort()).to.deep.equal([rows[0], rows[1], rows[5]].map((g) => (g as Generation).id).sort());
    });

    it('counts every generation ever recorded, by state, across state changes and prune', async () => {
      const a = makeGeneration();
      const b = makeGeneration();
      const c = makeGeneration();
      for (const g of [a, b, c]) await storage.generations.insert(g);
      await storage.generations.update(a.id, { state: 'running' });
      await storage.generations.update(a.id, { state: 'completed' });
      await storage.generations.update(b.id, { state: 'failed' });
      await storage.generations.update(b.id, { state: 'failed' });
      expect(await storage.generations.counts()).to.deep.equal({
        total: 3,
        byState: { queued: 1, running: 0, completed: 1, failed: 1, interrupted: 0 },
      });
      const pruned = await storage.generations.prune({ keep: 0 });
      expect(pruned.map((g) => g.id).sort()).to.deep.equal([a.id, b.id].sort());
      expect((await storage.generations.counts()).total).to.equal(3);
      expect((await storage.generations.counts()).byState.completed).to.equal(1);
      expect(await storage.generations.get(a.id)).to.equal(undefined);
      expect((await storage.generations.page({ limit: 10, offset: 0 })).total).to.equal(1);
    });

    it('prunes finished generations by age and beyond the newest N, never unfinished ones', async () => {
      const rows = [
        makeGeneration({ createdAt: '2026-01-01T00:00:00.000Z', state: 'completed' }),
        makeGeneration({ createdAt: '2026-01-02T00:00:00.000Z', state: 'running' }),
        makeGeneration({ createdAt: '2026-01-03T00:00:00.000Z', state: 'failed' }),
        makeGeneration({ createdAt: '2026-01-04T00:00:00.000Z', state: 'interrupted' }),
        makeGeneration({ createdAt: '2026-01-05T00:00:00.000Z', state: 'completed' }),
      ];
      for (const row of rows) await storage.generations.insert(row);
      const [r0, r1, r2, r3, r4] = rows.map((r) => r.id);

      expect(await storage.generations.prune({})).to.deep.equal([]);
      const byAge = await storage.generations.prune({ before: '2026-01-02T12:00:00.000Z' });
      expect(byAge.map((g) => g.id)).to.deep.equal([r0]);
      expect(byAge[0]?.state).to.equal('completed');
      const byRows = await storage.generations.prune({ keep: 2 });
      expect(byRows.map((g) => g.id)).to.deep.equal([r2]);
      const remaining = (await storage.generations.page({ limit: 10, offset: 0 })).items.map((g) => g.id);
      expect(remaining).to.deep.equal([r4, r3, r1]);
    });

    it('uploads: insert, get, markUsed, expired (unused and old only), delete', async () => {
      await storage.uploads.insert(makeUpload('old-unused.png', '2026-01-01T00:00:00.000Z'));
      await storage.uploads.insert(makeUpload('old-used.png', '2026-01-01T00:00:01.000Z'));
      await storage.uploads.insert(makeUpload('new.png', '2026-03-01T00:00:00.000Z'));
      await storage.uploads.markUsed('old-used.png', 'gen_1');
      await storage.uploads.markUsed('old-used.png', 'gen_1');
      expect((await storage.uploads.get('old-used.png'))?.usedBy).to.deep.equal(['gen_1']);
      expect(await storage.uploads.get('nope.png')).to.equal(undefined);

      const expired = await storage.uploads.expired('2026-02-01T00:00:00.000Z');
      expect(expired.map((u) => u.name)).to.deep.equal(['old-unused.png']);
      expect(expired[0]).to.deep.equal(makeUpload('old-unused.png', '2026-01-01T00:00:00.000Z'));

      await storage.uploads.delete('old-unused.png');
      expect(await storage.uploads.get('old-unused.png')).to.equal(undefined);
      expect(await storage.uploads.expired('2027-01-01T00:00:00.000Z')).to.have.length(1);
    });

    it('uploads: unmarkUsed lets an upload no generation uses any more expire', async () => {
      await storage.uploads.insert(makeUpload('shared.png', '2026-01-01T00:00:00.000Z'));
      await storage.uploads.markUsed('shared.png', 'gen_1');
      await storage.uploads.markUsed('shared.png', 'gen_2');
      await storage.uploads.unmarkUsed('shared.png', 'gen_1');
      expect((await storage.uploads.get('shared.png'))?.usedBy).to.deep.equal(['gen_2']);
      expect(await storage.uploads.expired('2026-02-01T00:00:00.000Z')).to.deep.equal([]);
      await storage.uploads.unmarkUsed('shared.png', 'gen_2');
      await storage.uploads.unmarkUsed('nope.png', 'gen_2');
      expect((await storage.uploads.expired('2026-02-01T00:00:00.000Z')).map((u) => u.name)).to.deep.equal(['shared.png']);
    });

    it('kv: get/set any JSON value, overwrite, and refuse undefined', async () => {
      expect(await storage.kv.get('missing')).to.equal(undefined);
      await storage.kv.set('comfyClientId', 'abc');
      await storage.kv.set('nested', { 'a.b': { $c: [1, 2] } });
      await storage.kv.set('comfyClientId', 'def');
      await storage.kv.set('nothing', null);
      expect(await storage.kv.get('comfyClientId')).to.equal('def');
      expect(await storage.kv.get('nested')).to.deep.equal({ 'a.b': { $c: [1, 2] } });
      expect(await storage.kv.get('nothing')).to.equal(null);
      let failure: unknown;
      await storage.kv.set('bad', undefined).catch((error: unknown) => (failure = error));
      expect(failure).to.be.instanceOf(TypeError);
    });

    it('leases: a generation this instance records is its own (never claimed, renewed)', async () => {
      const gen = makeGeneration({ state: 'queued' });
      await storage.generations.insert(gen);
      expect((await storage.leases.claimExpired(100)).map((g) => g.id)).to.not.include(gen.id);
      expect(await storage.leases.renew([gen.id])).to.deep.equal([gen.id]);
      expect(await storage.leases.claimExpired(100)).to.deep.equal([]);
      expect(storage.leases.instance).to.be.a('string').and.not.equal('');
    });

    if (backend.durable) {
      it('leases: what a closed instance left unfinished is claimed once, finished ones never', async () => {
        const queued = makeGeneration({ state: 'queued' });
        const running = makeGeneration({ state: 'running' });
        const done = makeGeneration({ state: 'completed' });
        for (const gen of [queued, running, done]) await storage.generations.insert(gen);
        const before = storage.leases.instance;
        await storage.close();

        storage = await place.open();
        expect(storage.leases.instance).to.not.equal(before);
        const claimed: Generation[] = [];
        await until(async () => {
          claimed.push(...(await storage.leases.claimExpired(100)));
          return claimed.length >= 2;
        }, 'the earlier instance\'s leases to run out and be claimed');
        expect(claimed.map((g) => g.id).sort()).to.deep.equal([queued.id, running.id].sort());
        expect(claimed.find((g) => g.id === running.id)).to.deep.equal(running);
        expect(await storage.leases.claimExpired(100)).to.deep.equal([]);
        expect(await storage.leases.renew([queued.id, running.id])).to.have.members([queued.id, running.id]);
      });
    }

    if (backend.shared) {
      it('leases: instances share expired leases out exactly once (SKIP LOCKED), the old holder loses them, release hands over at once', async () => {
        const others = [await place.open(), await place.open()];
        try {
          const gens = Array.from({ length: 30 }, () => makeGeneration({ state: 'queued' }));
          for (const gen of gens) await storage.generations.insert(gen);
          const ids = gens.map((g) => g.id);
          await storage.generations.update(ids[0]!, { state: 'completed' });
          await storage.leases.announced([ids[0]!]);
          const open = ids.slice(1);
          // Held and renewed by their recorder: nobody else can claim them.
          expect(await others[0]!.leases.claimExpired(100)).to.deep.equal([]);
          expect(await storage.leases.renew(open)).to.have.members(open);

          // The recorder stops renewing: the two others race, 5 at a time, until all are taken.
          const taken = new Map<string, string[]>(others.map((o) => [o.leases.instance, []]));
          await until(async () => {
            const rounds = await Promise.all(others.map(async (o) => ({ who: o.leases.instance, got: await o.leases.claimExpired(5) })));
            // Only this test's rows: earlier tests' finished rows were never announced, and are claimed too.
            for (const { who, got } of rounds) taken.get(who)!.push(...got.map((g) => g.id).filter((id) => ids.includes(id)));
            return [...taken.values()].flat().length >= open.length;
          }, 'every expired lease to be claimed');
          const all = [...taken.values()].flat();
          expect(all).to.have.length(open.length);
          expect(new Set(all).size).to.equal(open.length);
          expect(all).to.have.members(open);
          expect(await storage.leases.renew(open)).to.deep.equal([]);

          const [b, c] = others as [ContractStorage, ContractStorage];
          const ofB = taken.get(b.leases.instance)!;
          expect(await b.leases.renew(ofB)).to.have.members(ofB);
          expect((await c.leases.claimExpired(100)).filter((g) => ids.includes(g.id))).to.deep.equal([]);
          await b.leases.release(ofB);
          expect((await c.leases.claimExpired(100)).map((g) => g.id)).to.have.members(ofB);
        } finally {
          for (const other of others) await other.close();
        }
      });
    }
    if (backend.shared) {
      it('write with owned: once another instance claimed the row, the old holder\'s end writes nothing; the new holder\'s end renews its lease', async () => {
        const other = await place.open();
        try {
          const gen = makeGeneration({ state: 'queued' });
          await storage.generations.insert(gen);
          await storage.generations.write(gen.id, { state: 'running', percent: 40 }, { lazy: true });
          // The recorder stops renewing (as a frozen process does): the other instance claims the row.
          await until(async () => (await other.leases.claimExpired(100)).some((g) => g.id === gen.id), 'the row to be claimed');
          expect(await storage.generations.write(gen.id, { state: 'completed', percent: 100 }, { owned: true })).to.equal(false);
          expect(await other.generations.get(gen.id)).to.deep.include({ state: 'running', percent: 40 });
          expect((await other.generations.counts()).byState).to.deep.include({ running: 1, completed: 0 });
          expect(await other.leases.renew([gen.id]), 'the claimer still holds it').to.deep.equal([gen.id]);

          expect(await other.generations.write(gen.id, { state: 'failed', error: 'claimed' }, { owned: true })).to.equal(true);
          expect(await storage.generations.get(gen.id)).to.deep.include({ state: 'failed', error: 'claimed' });
          // Unannounced and leased afresh by the end's own write: the old holder cannot take it back.
          expect((await storage.leases.claimExpired(100)).map((g) => g.id)).to.not.include(gen.id);
          expect(await storage.leases.renew([gen.id])).to.deep.equal([]);
        } finally {
          await other.close();
        }
      });
    }
    if (backend.shared) {
      it('leases: a finished generation stays leased until its end is announced; unannounced, it is claimed once its lease runs out', async () => {
        const other = await place.open();
        try {
          const [unannounced, announced] = [makeGeneration({ state: 'running' }), makeGeneration({ state: 'running' })];
          for (const gen of [unannounced, announced]) await storage.generations.insert(gen);
          for (const gen of [unannounced, announced]) await storage.generations.update(gen.id, { state: 'completed' });
          await storage.leases.announced([announced.id]);
          // Held by its recorder, which renews it while publishing: nobody else can claim it.
          expect(await storage.leases.renew([unannounced.id])).to.deep.equal([unannounced.id]);
          expect((await other.leases.claimExpired(100)).map((g) => g.id)).to.not.include.members([unannounced.id]);
          // Its recorder died before announcing: the lease runs out and one claimer gets it, final.
          const claimed = await until(async () => {
            const got = (await other.leases.claimExpired(100)).filter((g) => g.id === unannounced.id || g.id === announced.id);
            return got.length > 0 ? got : undefined;
          }, 'the unannounced end to be claimed');
          expect(claimed.map((g) => [g.id, g.state])).to.deep.equal([[unannounced.id, 'completed']]);
          // Another instance's announcement changes nothing; the claimer's ends it for good.
          await storage.leases.announced([unannounced.id]);
          expect(await other.leases.renew([unannounced.id])).to.deep.equal([unannounced.id]);
          await other.leases.announced([unannounced.id]);
          await other.leases.release([unannounced.id]);
          const mine = (claimed: Generation[]) => claimed.map((g) => g.id).filter((id) => id === unannounced.id || id === announced.id);
          expect(mine(await storage.leases.claimExpired(100))).to.deep.equal([]);
          expect(mine(await other.leases.claimExpired(100))).to.deep.equal([]);
        } finally {
          await other.close();
        }
      });
    }

    it('client bindings: the first owner holds until expiry, renews without shortening, then anyone may take it', async () => {
      const T = 1_800_000_000_000;
      expect(await storage.clientBindings.get('tab', T)).to.equal(undefined);
      expect(await storage.clientBindings.claim({ clientId: 'tab', owner: 'key-a', expiresAt: T + 1000 }, T)).to.deep.equal({ clientId: 'tab', owner: 'key-a', expiresAt: T + 1000 });
      // Another key is refused and changes nothing.
      expect(await storage.clientBindings.claim({ clientId: 'tab', owner: 'key-b', expiresAt: T + 5000 }, T + 10)).to.deep.equal({ clientId: 'tab', owner: 'key-a', expiresAt: T + 1000 });
      // The owner renews; an earlier expiry never shortens it.
      expect((await storage.clientBindings.claim({ clientId: 'tab', owner: 'key-a', expiresAt: T + 2000 }, T + 20)).expiresAt).to.equal(T + 2000);
      expect((await storage.clientBindings.claim({ clientId: 'tab', owner: 'key-a', expiresAt: T + 1500 }, T + 30)).expiresAt).to.equal(T + 2000);
      expect(await storage.clientBindings.get('tab', T + 1999)).to.deep.equal({ clientId: 'tab', owner: 'key-a', expiresAt: T + 2000 });
      expect(await storage.clientBindings.countLive('key-a', T + 1999)).to.equal(1);
      // Expired: gone for reads and counts, and another key takes it.
      expect(await storage.clientBindings.get('tab', T + 2000)).to.equal(undefined);
      expect(await storage.clientBindings.countLive('key-a', T + 2000)).to.equal(0);
      expect(await storage.clientBindings.claim({ clientId: 'tab', owner: 'key-b', expiresAt: T + 9000 }, T + 2000)).to.deep.equal({ clientId: 'tab', owner: 'key-b', expiresAt: T + 9000 });
      expect(await storage.clientBindings.countLive('key-b', T + 2000)).to.equal(1);
    });

    it('client bindings: concurrent claims of one clientId by many keys, exactly one wins and all see it', async () => {
      const T = 1_800_000_000_000;
      const owners = Array.from({ length: 12 }, (_, i) => `key-${i}`);
      const held = await Promise.all(owners.map((owner) => storage.clientBindings.claim({ clientId: 'race', owner, expiresAt: T + 1000 }, T)));
      const winners = new Set(held.map((b) => b.owner));
      expect(winners.size).to.equal(1);
      expect((await storage.clientBindings.get('race', T))?.owner).to.equal([...winners][0]);
    });

    it('client bindings: countLive counts one key\'s live bindings; prune deletes only ended ones', async () => {
      const T = 1_800_000_000_000;
      await storage.clientBindings.claim({ clientId: 'a1', owner: 'key-a', expiresAt: T + 100 }, T);
      await storage.clientBindings.claim({ clientId: 'a2', owner: 'key-a', expiresAt: T + 300 }, T);
      await storage.clientBindings.claim({ clientId: 'b1', owner: 'key-b', expiresAt: T + 300 }, T);
      expect(await storage.clientBindings.countLive('key-a', T)).to.equal(2);
      expect(await storage.clientBindings.countLive('key-a', T + 100)).to.equal(1);
      expect(await storage.clientBindings.prune(T + 100)).to.equal(1);
      expect(await storage.clientBindings.get('a2', T + 100)).to.deep.equal({ clientId: 'a2', owner: 'key-a', expiresAt: T + 300 });
      expect(await storage.clientBindings.countLive('key-b', T + 100)).to.equal(1);
      expect(await storage.clientBindings.prune(T + 100)).to.equal(0);
    });

    it('idempotency: the first claim holds within the window, a later one replaces an expired record', async () => {
      const first = makeClaim('k', 'gen_a', '2026-01-01T00:00:00.000Z');
      expect(await storage.idempotency.claim(first, '2025-12-31T00:00:00.000Z')).to.deep.equal(first);
      // Within the window: the holder answers, whatever the second claim says.
      const second = makeClaim('k', 'gen_b', '2026-01-01T01:00:00.000Z', 'f2');
      expect(await storage.idempotency.claim(second, '2025-12-31T01:00:00.000Z')).to.deep.equal(first);
      // Same key, other scope: its own record.
      const other = { ...second, scope: 'client:c1' };
      expect(await storage.idempotency.claim(other, '2025-12-31T01:00:00.000Z')).to.deep.equal(other);
      // The first record is older than `since`: expired, replaced.
      const later = makeClaim('k', 'gen_c', '2026-01-03T00:00:00.000Z', 'f3');
      expect(await storage.idempotency.claim(later, '2026-01-02T00:00:00.000Z')).to.deep.equal(later);
      expect(await storage.idempotency.get('key:k1', 'k')).to.deep.equal(later);
      expect(await storage.idempotency.get('key:k1', 'missing')).to.equal(undefined);
    });

    it('idempotency: many concurrent claims of one key, exactly one wins and all see it', async () => {
      const claims = Array.from({ length: 40 }, (_, i) => makeClaim('race', `ref_${i}`, '2026-01-01T00:00:00.000Z'));
      const held = await Promise.all(claims.map((c) => storage.idempotency.claim(c, '2025-12-31T00:00:00.000Z')));
      const refs = new Set(held.map((h) => h.ref));
      expect(refs.size).to.equal(1);
      expect((await storage.idempotency.get('key:k1', 'race'))?.ref).to.equal([...refs][0]);
    });

    it('idempotency: complete stores the answer and release forgets the key, both only for the holder ref', async () => {
      await storage.idempotency.claim(makeClaim('k', 'gen_a', '2026-01-01T00:00:00.000Z'), '2025-01-01T00:00:00.000Z');
      const answer = { status: 200, body: { id: 'gen_a', 'odd.key': { $weird: [1, 'x'] } } };
      await storage.idempotency.complete('key:k1', 'k', 'gen_other', { status: 500, body: null });
      expect((await storage.idempotency.get('key:k1', 'k'))?.answer).to.equal(null);
      await storage.idempotency.complete('key:k1', 'k', 'gen_a', answer);
      expect((await storage.idempotency.get('key:k1', 'k'))?.answer).to.deep.equal(answer);
      await storage.idempotency.release('key:k1', 'k', 'gen_other');
      expect(await storage.idempotency.get('key:k1', 'k')).to.not.equal(undefined);
      await storage.idempotency.release('key:k1', 'k', 'gen_a');
      expect(await storage.idempotency.get('key:k1', 'k')).to.equal(undefined);
      // Forgotten: the next claim of the key is a new one.
      const next = makeClaim('k', 'gen_b', '2026-01-01T00:01:00.000Z', 'f2');
      expect(await storage.idempotency.claim(next, '2025-01-01T00:00:00.000Z')).to.deep.equal(next);
    });

    it('idempotency: prune deletes records created before the cut only', async () => {
      await storage.idempotency.claim(makeClaim('old', 'r1', '2026-01-01T00:00:00.000Z'), '2025-01-01T00:00:00.000Z');
      await storage.idempotency.claim(makeClaim('new', 'r2', '2026-01-03T00:00:00.000Z'), '2025-01-01T00:00:00.000Z');
      expect(await storage.idempotency.prune('2026-01-02T00:00:00.000Z')).to.equal(1);
      expect(await storage.idempotency.get('key:k1', 'old')).to.equal(undefined);
      expect((await storage.idempotency.get('key:k1', 'new'))?.ref).to.equal('r2');
    });

    if (backend.durable) {
      it('keeps everything across a close and reopen, counters included', async () => {
        const a = makeGeneration({ clientId: 'persist' });
        const b = makeGeneration({ clientId: 'persist' });
        await storage.generations.insert(a);
        await storage.generations.insert(b);
        await storage.generations.update(a.id, { state: 'completed', percent: 100 });
        await storage.generations.prune({ keep: 1 });
        await storage.uploads.insert(makeUpload('kept.png', '2026-01-01T00:00:00.000Z'));
        await storage.kv.set('k', { v: 1 });
        await storage.idempotency.claim(makeClaim('kept', b.id, '2026-01-01T00:00:00.000Z'), '2025-01-01T00:00:00.000Z');
        await storage.idempotency.complete('key:k1', 'kept', b.id, { status: 200, body: { id: b.id } });
        await storage.close();

        storage = await place.open();
        expect(await storage.generations.get(a.id)).to.equal(undefined);
        expect(await storage.generations.get(b.id)).to.deep.equal(b);
        expect((await storage.generations.latestForClient('persist'))?.id).to.equal(b.id);
        expect(await storage.generations.counts()).to.deep.equal({
          total: 2,
          byState: { queued: 1, running: 0, completed: 1, failed: 0, interrupted: 0 },
        });
        expect((await storage.uploads.get('kept.png'))?.name).to.equal('kept.png');
        expect(await storage.kv.get('k')).to.deep.equal({ v: 1 });
        expect(await storage.idempotency.get('key:k1', 'kept')).to.deep.equal({
          ...makeClaim('kept', b.id, '2026-01-01T00:00:00.000Z'),
          answer: { status: 200, body: { id: b.id } },
        });
      });
    }
  });
}
