import { expect } from 'chai';
import type { Bus, BusMessage } from '../contracts/bus.js';
import { MemoryBus } from '../plugins/bus/memory-bus.js';
import { PostgresBus } from '../plugins/bus-postgres/pg-bus.js';
import { createTestDatabase } from './helpers/postgres.js';
import { until } from './helpers/until.js';

/** A bus of one backend with the given replay window, reading time from `clock`; listener failures go to `onError`. */
interface BusBackend {
  name: string;
  open(window: { maxMessages: number; maxAgeMs: number }, clock: () => number, onError: (error: unknown) => void): Promise<{ bus: Bus; close(): Promise<void> }>;
}

const memory: BusBackend = {
  name: 'bus (in-process)',
  open: ({ maxMessages, maxAgeMs }, clock, onError) => Promise.resolve({ bus: new MemoryBus({ maxMessages, maxAgeMs }, onError, clock), close: () => Promise.resolve() }),
};

/** A database of its own per bus on the test PostgreSQL (test/helpers/postgres.ts). */
const postgres: BusBackend = {
  name: 'bus-postgres',
  async open({ maxMessages, maxAgeMs }, clock, onError) {
    const database = await createTestDatabase();
    const bus = await PostgresBus.open({
      url: database.url,
      poolSize: 2,
      connectTimeoutMs: 5000,
      statementTimeoutMs: 5000,
      replayWindow: maxMessages,
      replayWindowMs: maxAgeMs,
      onListenerError: onError,
      now: clock,
    });
    return {
      bus,
      async close() {
        await bus.close();
        await database.drop();
      },
    };
  },
};

for (const backend of [memory, postgres]) {
  describe(`bus contract: ${backend.name}`, function () {
    this.timeout(20000);
    let now = 1_000;
    const clock = () => now;
    const failures: unknown[] = [];
    const opened: { close(): Promise<void> }[] = [];
    const bus = async (maxMessages = 3, maxAgeMs = 1_000): Promise<Bus> => {
      const handle = await backend.open({ maxMessages, maxAgeMs }, clock, (error) => failures.push(error));
      opened.push(handle);
      return handle.bus;
    };

    beforeEach(() => {
      now = 1_000;
      failures.length = 0;
    });
    afterEach(async () => {
      for (const handle of opened.splice(0)) await handle.close();
    });

    it('numbers messages per topic and delivers them in order to that topic only', async () => {
      const b = await bus();
      const a: BusMessage[] = [];
      const other: BusMessage[] = [];
      b.subscribe('a', (m) => a.push(m));
      b.subscribe('b', (m) => other.push(m));
      const published = [await b.publish('a', 'x'), await b.publish('a', 'y')];
      const first = await b.publish('b', 'z');
      expect(published.map((m) => m.seq)).to.deep.equal([1, 2]);
      await until(() => a.length === 2 && other.length === 1, 'the three deliveries');
      expect(a.map((m) => [m.seq, m.payload])).to.deep.equal([[1, 'x'], [2, 'y']]);
      expect(first.seq).to.equal(1);
      expect(other.map((m) => [m.seq, m.payload])).to.deep.equal([[1, 'z']]);
      expect(await b.lastSeq('a')).to.equal(2);
      expect(await b.lastSeq('none')).to.equal(0);
    });

    it('replays what came after a seq, within the count and age window', async () => {
      const b = await bus(3, 1_000);
      for (const p of ['1', '2', '3', '4']) await b.publish('t', p);
      expect((await b.replay('t', 0)).map((m) => m.seq)).to.deep.equal([2, 3, 4]);
      expect((await b.replay('t', 3)).map((m) => [m.seq, m.payload])).to.deep.equal([[4, '4']]);
      expect(await b.replay('t', 4)).to.deep.equal([]);
      now += 1_001;
      expect(await b.replay('t', 0)).to.deep.equal([]);
      expect(await b.lastSeq('t')).to.equal(4);
    });

    it('keeps delivering when one subscriber throws, and reports the failure', async () => {
      const b = await bus();
      const seen: number[] = [];
      b.subscribe('t', () => {
        throw new Error('boom');
      });
      b.subscribe<number>('t', (m) => seen.push(m.payload));
      await b.publish('t', 7);
      await until(() => seen.length === 1 && failures.length === 1, 'the delivery and the reported failure');
      expect(seen).to.deep.equal([7]);
      expect(failures).to.have.length(1);
    });

    it('stops delivering after unsubscribe', async () => {
      const b = await bus();
      const seen: unknown[] = [];
      const marker: unknown[] = [];
      const off = b.subscribe('t', (m) => seen.push(m.payload));
      await b.publish('t', 1);
      await until(() => seen.length === 1, 'the first delivery');
      off();
      b.subscribe('t', (m) => marker.push(m.payload));
      await b.publish('t', 2);
      // The other subscriber of the topic got 2: had the first still been subscribed, it would have too.
      await until(() => marker.length === 1, 'the delivery to the remaining subscriber');
      expect(seen).to.deep.equal([1]);
    });

    it('hands payloads back as they were published, objects and key order included', async () => {
      const b = await bus(10, 60_000);
      const payload = { status: 'progress', data: { z: 1, a: [1, 'two', null], nested: { ok: true } } };
      const seen: BusMessage[] = [];
      b.subscribe('t', (m) => seen.push(m));
      const published = await b.publish('t', payload);
      await until(() => seen.length === 1, 'the delivery');
      expect(seen[0]).to.deep.equal(published);
      expect(JSON.stringify(seen[0]!.payload)).to.equal(JSON.stringify(payload));
      const [replayed] = await b.replay('t', 0);
      expect(JSON.stringify(replayed)).to.equal(JSON.stringify(published));
    });
  });
}
