import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deliveryId, TERMINAL_WEBHOOK_EVENTS, type WebhookSubscription } from '../contracts/outbox.js';
import type { Storage } from '../contracts/storage.js';
import { NedbStorage } from '../plugins/storage-nedb/nedb-storage.js';
import { PostgresStorage } from '../plugins/storage-postgres/pg-storage.js';
import { datafileText } from './helpers/datafile.js';
import { numberedGenerations } from './helpers/generation.js';
import { createTestDatabase } from './helpers/postgres.js';

// The outbox part of the storage contract (contracts/outbox.ts), on every backend.

const quietLog = { warn: () => undefined, info: () => undefined };
const makeGeneration = numberedGenerations({
  start: '2026-03-01T00:00:00.000Z',
  idPrefix: 'gen_wh',
  idDigits: 5,
  defaults: { graph: { '1': { class_type: 'EmptyImage', inputs: { 'odd.key': 1, $weird: true } } } },
});

type ClosableStorage = Storage & { close(): Promise<void> };

interface Backend {
  name: string;
  durable: boolean;
  shared: boolean;
  dataDir?: () => string;
  prepare(): Promise<{ open(): Promise<ClosableStorage>; cleanup(): Promise<void>; dataDir?: string }>;
}

const nedb = (mode: 'in-memory' | 'file'): Backend => ({
  name: `storage-nedb (${mode})`,
  durable: mode === 'file',
  shared: false,
  async prepare() {
    const dataDir = await mkdtemp(join(tmpdir(), 'outbox-contract-'));
    return {
      dataDir,
      open: () => NedbStorage.open({ dataDir, inMemory: mode === 'in-memory', log: quietLog }),
      cleanup: () => rm(dataDir, { recursive: true, force: true }),
    };
  },
});

const postgres: Backend = {
  name: 'storage-postgres',
  durable: true,
  shared: true,
  async prepare() {
    const database = await createTestDatabase();
    return {
      open: () => PostgresStorage.open({ url: database.url, poolSize: 4, healthIntervalMs: 0, log: quietLog }),
      cleanup: () => database.drop(),
    };
  },
};

const subscription = (generationId: string, fields: Partial<WebhookSubscription> = {}): WebhookSubscription => ({
  generationId,
  url: 'https://hooks.example.com/in',
  events: [...TERMINAL_WEBHOOK_EVENTS],
  secretRef: 'key-a',
  createdAt: '2026-03-01T00:00:00.000Z',
  ...fields,
});

const NOW = '2026-03-02T00:00:00.000Z';
const later = (ms: number): string => new Date(Date.parse(NOW) + ms).toISOString();

for (const backend of [nedb('in-memory'), nedb('file'), postgres]) {
  describe(`webhook outbox contract: ${backend.name}`, () => {
    let place: Awaited<ReturnType<Backend['prepare']>>;
    let storage: ClosableStorage;

    beforeEach(async () => {
      place = await backend.prepare();
      storage = await place.open();
    });

    afterEach(async () => {
      await storage.close();
      await place.cleanup();
    });

    /** A subscribed generation recorded queued, then moved to `state` at `at`. */
    async function ended(state: 'completed' | 'failed' | 'interrupted', fields: Partial<WebhookSubscription> = {}, at = '2026-03-01T01:00:00.000Z') {
      const gen = makeGeneration();
      await storage.outbox.subscribe(subscription(gen.id, fields));
      await storage.generations.insert(gen);
      await storage.generations.update(gen.id, { state, finishedAt: at, updatedAt: at, attempts: 1, error: state === 'completed' ? null : 'it broke' });
      return gen;
    }

    it('a state change of a subscribed generation makes its delivery in the same write: stable id, event, url, the generation without its graph', async () => {
      const gen = await ended('completed');
      const id = deliveryId(gen.id, 'completed', 1);
      const delivery = await storage.outbox.get(id);
      expect(delivery).to.include({ id, generationId: gen.id, event: 'generation.completed', url: 'https://hooks.example.com/in', secretRef: 'key-a', state: 'pending', attempts: 0, lastError: null, finishedAt: null });
      expect(delivery!.createdAt).to.equal('2026-03-01T01:00:00.000Z');
      expect(delivery!.nextAttemptAt).to.equal('2026-03-01T01:00:00.000Z');
      expect(delivery!.generation).to.include({ id: gen.id, state: 'completed', clientId: gen.clientId, workflow: gen.workflow });
      expect(delivery!.generation.graph).to.deep.equal({});
      expect((await storage.outbox.forGeneration(gen.id)).map((d) => d.id)).to.deep.equal([id]);
    });

    it('no delivery without a subscription, for an event not asked for, or for a change that is not a state change', async () => {
      const plain = makeGeneration();
      await storage.generations.insert(plain);
      await storage.generations.update(plain.id, { state: 'completed', updatedAt: NOW });
      expect(await storage.outbox.forGeneration(plain.id)).to.deep.equal([]);

      const picky = makeGeneration();
      await storage.outbox.subscribe(subscription(picky.id, { events: ['generation.failed'] }));
      await storage.generations.insert(picky);
      await storage.generations.update(picky.id, { state: 'running', updatedAt: NOW });
      await storage.generations.update(picky.id, { percent: 50, updatedAt: NOW });
      await storage.generations.update(picky.id, { state: 'completed', updatedAt: NOW });
      expect(await storage.outbox.forGeneration(picky.id)).to.deep.equal([]);

      const everything = makeGeneration();
      await storage.outbox.subscribe(subscription(everything.id, { events: ['generation.running', 'generation.completed'] }));
      await storage.generations.insert(everything);
      await storage.generations.update(everything.id, { state: 'running', attempts: 1, updatedAt: '2026-03-01T00:10:00.000Z' });
      await storage.generations.update(everything.id, { percent: 40 });
      // Lost and resubmitted: running again under a new attempt is a second delivery.
      await storage.generations.update(everything.id, { state: 'queued', attempts: 2, updatedAt: '2026-03-01T00:11:00.000Z' });
      await storage.generations.update(everything.id, { state: 'running', updatedAt: '2026-03-01T00:12:00.000Z' });
      await storage.generations.update(everything.id, { state: 'completed', updatedAt: '2026-03-01T00:13:00.000Z' });
      const made = await storage.outbox.forGeneration(everything.id);
      expect(made.map((d) => d.id)).to.deep.equal([
        deliveryId(everything.id, 'running', 1),
        deliveryId(everything.id, 'running', 2),
        deliveryId(everything.id, 'completed', 2),
      ]);
      expect(made.map((d) => d.event)).to.deep.equal(['generation.running', 'generation.running', 'generation.completed']);
    });

    it('unsubscribe forgets a subscription before its generation changes', async () => {
      const gen = makeGeneration();
      await storage.outbox.subscribe(subscription(gen.id));
      await storage.outbox.unsubscribe(gen.id);
      await storage.generations.insert(gen);
      await storage.generations.update(gen.id, { state: 'failed', updatedAt: NOW });
      expect(await storage.outbox.forGeneration(gen.id)).to.deep.equal([]);
    });

    it('claims: due only, one claimer at a time until the lease runs out, oldest due first, within the limit', async () => {
      const first = await ended('completed', {}, '2026-03-01T01:00:00.000Z');
      const second = await ended('failed', {}, '2026-03-01T02:00:00.000Z');
      const notYet = await ended('interrupted', {}, later(60_000));
      const got = await storage.outbox.claimDue('a', NOW, 10, 30_000);
      expect(got.map((d) => d.generationId)).to.deep.equal([first.id, second.id]);
      expect(await storage.outbox.claimDue('b', NOW, 10, 30_000)).to.deep.equal([]);
      // a's claim ran out: b may take them (a died while sending).
      expect((await storage.outbox.claimDue('b', later(30_000), 1, 120_000)).map((d) => d.generationId)).to.deep.equal([first.id]);
      expect((await storage.outbox.claimDue('b', later(60_000), 10, 30_000)).map((d) => d.generationId)).to.deep.equal([second.id, notYet.id]);
    });

    it('finish: only the holder; a retry moves the due time and keeps the id, delivered and failed are never claimed again', async () => {
      const gen = await ended('completed');
      const id = deliveryId(gen.id, 'completed', 1);
      await storage.outbox.claimDue('a', NOW, 10, 30_000);
      expect(await storage.outbox.finish(id, 'b', { state: 'delivered', at: NOW })).to.equal(false);
      expect(await storage.outbox.finish(id, 'a', { state: 'pending', nextAttemptAt: later(5000), error: 'HTTP 500' })).to.equal(true);
      expect(await storage.outbox.get(id)).to.include({ state: 'pending', attempts: 1, nextAttemptAt: later(5000), lastError: 'HTTP 500' });
      expect(await storage.outbox.claimDue('a', later(4000), 10, 30_000)).to.deep.equal([]);
      const again = await storage.outbox.claimDue('b', later(5000), 10, 30_000);
      expect(again.map((d) => d.id)).to.deep.equal([id]);
      expect(await storage.outbox.finish(id, 'a', { state: 'delivered', at: later(5000) })).to.equal(false);
      expect(await storage.outbox.finish(id, 'b', { state: 'delivered', at: later(6000) })).to.equal(true);
      expect(await storage.outbox.get(id)).to.include({ state: 'delivered', attempts: 2, finishedAt: later(6000) });
      expect(await storage.outbox.claimDue('c', later(10 ** 9), 10, 30_000)).to.deep.equal([]);
      expect(await storage.outbox.pendingCount()).to.equal(0);

      const other = await ended('failed');
      const otherId = deliveryId(other.id, 'failed', 1);
      await storage.outbox.claimDue('a', NOW, 10, 30_000);
      expect(await storage.outbox.pendingCount()).to.equal(1);
      expect(await storage.outbox.finish(otherId, 'a', { state: 'failed', at: NOW, error: 'gave up after 24 h: HTTP 503' })).to.equal(true);
      expect(await storage.outbox.get(otherId)).to.include({ state: 'failed', attempts: 1, lastError: 'gave up after 24 h: HTTP 503', finishedAt: NOW });
      expect(await storage.outbox.pendingCount()).to.equal(0);
    });

    it('prune deletes finished deliveries before the cut, never pending ones', async () => {
      const done = await ended('completed');
      const waiting = await ended('failed');
      const doneId = deliveryId(done.id, 'completed', 1);
      await storage.outbox.claimDue('a', NOW, 10, 30_000);
      await storage.outbox.finish(doneId, 'a', { state: 'delivered', at: NOW });
      expect(await storage.outbox.prune(NOW)).to.equal(0);
      expect(await storage.outbox.prune(later(1))).to.equal(1);
      expect(await storage.outbox.get(doneId)).to.equal(undefined);
      expect(await storage.outbox.get(deliveryId(waiting.id, 'failed', 1))).to.include({ state: 'pending' });
    });

    if (backend.durable) {
      it('a pending delivery and a subscription survive a close and reopen', async () => {
        const gen = await ended('completed');
        const open = makeGeneration();
        await storage.outbox.subscribe(subscription(open.id));
        await storage.generations.insert(open);
        await storage.close();
        storage = await place.open();
        expect(await storage.outbox.get(deliveryId(gen.id, 'completed', 1))).to.include({ state: 'pending', attempts: 0 });
        await storage.generations.update(open.id, { state: 'completed', updatedAt: NOW, attempts: 1 });
        expect(await storage.outbox.get(deliveryId(open.id, 'completed', 1))).to.include({ state: 'pending' });
      });
    }

    if (backend.shared) {
      it('instances sharing the store claim each delivery exactly once (SKIP LOCKED)', async () => {
        const others = [await place.open(), await place.open()];
        try {
          const gens = [];
          for (let i = 0; i < 30; i++) gens.push(await ended('completed'));
          const rounds = await Promise.all(
            [storage, ...others].flatMap((s, n) => [0, 1, 2].map((k) => s.outbox.claimDue(`claimer-${n}-${k}`, NOW, 4, 30_000))),
          );
          let taken = rounds.flat().map((d) => d.generationId);
          expect(new Set(taken).size).to.equal(taken.length);
          for (;;) {
            const more = await others[0]!.outbox.claimDue('late', NOW, 5, 30_000);
            if (more.length === 0) break;
            taken = [...taken, ...more.map((d) => d.generationId)];
          }
          expect(taken).to.have.members(gens.map((g) => g.id));
        } finally {
          for (const other of others) await other.close();
        }
      });
    }

    if (backend.name === 'storage-nedb (file)') {
      it('a crash between the generation line and the delivery line: the delivery is derived again at load, with the same id', async () => {
        const gen = await ended('completed');
        await storage.close();
        // Cut what the outbox wrote after the subscription: the generations datafile holds the end, the outbox does not.
        const file = join(place.dataDir!, 'db', 'outbox.db');
        const lines = (await datafileText(file)).split('\n').filter((line) => line && !line.includes('"kind":"delivery"') && !line.includes('"done":true'));
        await writeFile(file, `${lines.join('\n')}\n`);
        storage = await place.open();
        const delivery = await storage.outbox.get(deliveryId(gen.id, 'completed', 1));
        expect(delivery).to.include({ state: 'pending', event: 'generation.completed', createdAt: '2026-03-01T01:00:00.000Z' });
        expect(await storage.outbox.forGeneration(gen.id)).to.have.length(1);
      });
    }
  });
}
