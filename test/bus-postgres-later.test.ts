import { expect } from 'chai';
import pg from 'pg';
import type { BusMessage } from '../contracts/bus.js';
import { PostgresBus } from '../plugins/bus-postgres/pg-bus.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { until } from './helpers/until.js';

/**
 * publishLater on the PostgreSQL bus (contracts/bus.ts): messages taken in call order with nothing to
 * await. A statement the server refuses or rolls back must leave, on every instance, seqs without gaps
 * or repeats, and the messages that were published in the order of the calls.
 */
describe('bus-postgres: publishLater', function () {
  this.timeout(30_000);
  let db: TestDatabase;
  let admin: pg.Client;
  const buses: PostgresBus[] = [];
  const reported: number[] = [];

  const open = async (): Promise<PostgresBus> => {
    const bus = await PostgresBus.open({
      url: db.url,
      poolSize: 2,
      connectTimeoutMs: 5000,
      statementTimeoutMs: 5000,
      replayWindow: 1000,
      replayWindowMs: 600_000,
      applicationName: 'later-test',
      onListenerError: () => undefined,
      onPublishError: (_error, messages) => reported.push(messages),
    });
    buses.push(bus);
    return bus;
  };

  /** The seqs of `seen` are 1…n, and its payloads appear in the order they were published, once each. */
  const expectGaplessInCallOrder = (seen: BusMessage<string>[], calls: string[]) => {
    expect(seen.map((m) => m.seq)).to.deep.equal(seen.map((_, i) => i + 1));
    const at = seen.map((m) => calls.indexOf(m.payload));
    expect(at.every((index) => index >= 0)).to.equal(true);
    expect(at.every((index, i) => i === 0 || index > at[i - 1]!), `in call order: ${seen.map((m) => m.payload).join(' ')}`).to.equal(true);
  };

  beforeEach(async () => {
    reported.length = 0;
    db = await createTestDatabase();
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
  });

  afterEach(async () => {
    for (const bus of buses.splice(0)) await bus.close();
    await admin.end();
    await db.drop();
  });

  it('numbers messages taken without a promise in call order, between awaited publishes', async () => {
    const [a, b] = [await open(), await open()];
    const seen: BusMessage<string>[] = [];
    b.subscribe<string>('client:l', (m) => seen.push(m));
    const calls: string[] = [];
    for (let turn = 0; turn < 10; turn++) {
      for (let i = 0; i < 3; i++) {
        const payload = `t${turn}.${i}`;
        calls.push(payload);
        if (i === 1) void a.publish('client:l', payload);
        else a.publishLater('client:l', payload);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    await until(() => seen.length === 30, 'the other instance to deliver 30 messages');
    expect(seen.map((m) => m.payload)).to.deep.equal(calls);
    expectGaplessInCallOrder(seen, calls);
    expect(a.publishFailures).to.equal(0);
  });

  it('loses only the messages of a statement the server refuses, counted and reported once, leaving the seqs gapless', async () => {
    const [a, b] = [await open(), await open()];
    await admin.query(`
      CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.payload::text LIKE '%poison%' THEN RAISE EXCEPTION 'poisoned' USING ERRCODE = '22023'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER refuse_poison BEFORE INSERT ON bus_messages FOR EACH ROW EXECUTE FUNCTION refuse_poison();`);
    const seen: BusMessage<string>[] = [];
    b.subscribe<string>('client:p', (m) => seen.push(m));
    const calls: string[] = [];
    for (let turn = 0; turn < 12; turn++) {
      for (let i = 0; i < 3; i++) {
        const payload = turn === 4 && i === 1 ? 'poison' : `t${turn}.${i}`;
        calls.push(payload);
        a.publishLater('client:p', payload);
      }
      await new Promise((resolve) => setImmediate(resolve));
      // What comes after the refused statement is published once it failed.
      if (turn === 4) await until(() => a.publishFailures > 0, 'the poisoned statement to fail');
    }
    await until(async () => seen.length + a.publishFailures === 36 && (await a.lastSeq('client:p')) === seen.length, 'every message delivered or lost');
    expect(seen.map((m) => m.payload)).to.not.include('poison');
    // The poison's statement failed whole (at least its turn's three messages); those before and after it were published.
    expect(a.publishFailures).to.be.at.least(3);
    expect(seen.map((m) => m.payload)).to.include.members(['t0.0', 't5.0', 't11.2']);
    expect(reported.reduce((n, m) => n + m, 0)).to.equal(a.publishFailures);
    expect(reported.length).to.be.below(a.publishFailures);
    expectGaplessInCallOrder(seen, calls);
    expect((await b.replay<string>('client:p', 0)).map((m) => `${m.seq} ${m.payload}`)).to.deep.equal(seen.map((m) => `${m.seq} ${m.payload}`));
  });

  it('sends a rolled-back statement again when no later one has its topic, and fails it when one does: never reordered, never repeated', async () => {
    const [a, b] = [await open(), await open()];
    // The first statement that carries a "flaky" message is rolled back as a deadlock would be (a sequence
    // counts the attempts: it is not rolled back with the statement).
    await admin.query(`
      CREATE SEQUENCE flaky_attempts;
      CREATE FUNCTION fail_flaky_once() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.payload::text LIKE '%flaky%' AND nextval('flaky_attempts') = 1 THEN
          RAISE EXCEPTION 'deadlock (simulated)' USING ERRCODE = '40P01';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER fail_flaky_once BEFORE INSERT ON bus_messages FOR EACH ROW EXECUTE FUNCTION fail_flaky_once();`);
    const seen: BusMessage<string>[] = [];
    b.subscribe<string>('client:r', (m) => seen.push(m));

    // Alone on the wire: sent again, and nothing is lost.
    for (const payload of ['r1', 'flaky r2', 'r3']) a.publishLater('client:r', payload);
    await until(() => seen.length === 3, 'three deliveries');
    expect(seen.map((m) => `${m.seq} ${m.payload}`)).to.deep.equal(['1 r1', '2 flaky r2', '3 r3']);
    expect(a.publishFailures).to.equal(0);
    expect(Number((await admin.query<{ n: string }>('SELECT last_value AS n FROM flaky_attempts')).rows[0]!.n)).to.equal(2);

    // With a later statement of the topic pipelined behind it: the topic's row is held, so both statements
    // are on the wire when the first is rolled back. Sending it again would number it after the second: it fails.
    await admin.query("SELECT setval('flaky_attempts', 1, false)");
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query("SELECT seq FROM bus_topics WHERE topic = 'client:r' FOR UPDATE");
      a.publishLater('client:r', 'flaky r4');
      await new Promise((resolve) => setImmediate(resolve));
      a.publishLater('client:r', 'r5');
      await until(async () => (await admin.query("SELECT 1 FROM pg_stat_activity WHERE application_name = 'later-test (publish)' AND wait_event_type = 'Lock'")).rowCount === 1, 'the first statement to wait for the row');
      await holder.query('COMMIT');
    } finally {
      await holder.end();
    }
    await until(() => seen.length + a.publishFailures === 5, 'r4 and r5 delivered or lost');
    expect(seen.map((m) => `${m.seq} ${m.payload}`)).to.deep.equal(['1 r1', '2 flaky r2', '3 r3', '4 r5']);
    expect(a.publishFailures).to.equal(1);
    expect(reported).to.deep.equal([1]);
    expect(await a.lastSeq('client:r')).to.equal(4);
  });
});
