import { expect } from 'chai';
import type { BusMessage } from '../contracts/bus.js';
import { CHANNEL, PostgresBus, topicOf } from '../plugins/bus-postgres/pg-bus.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { until } from './helpers/until.js';
import pg from 'pg';

/** What only the PostgreSQL bus has to get right: several instances, big messages, a lost LISTEN connection. */
describe('bus-postgres', function () {
  this.timeout(30_000);
  let db: TestDatabase;
  const buses: PostgresBus[] = [];
  const failures: unknown[] = [];
  const connectionErrors: unknown[] = [];

  const open = async (window = { replayWindow: 1000, replayWindowMs: 600_000 }, poolSize = 4): Promise<PostgresBus> => {
    const bus = await PostgresBus.open({
      url: db.url,
      poolSize,
      connectTimeoutMs: 5000,
      statementTimeoutMs: 5000,
      ...window,
      applicationName: 'bus-test',
      onListenerError: (error) => failures.push(error),
      onConnectionError: (error) => connectionErrors.push(error),
    });
    buses.push(bus);
    return bus;
  };

  beforeEach(async () => {
    failures.length = 0;
    connectionErrors.length = 0;
    db = await createTestDatabase();
  });

  afterEach(async () => {
    for (const bus of buses.splice(0)) await bus.close();
    await db.drop();
  });

  it('numbers the messages of two publishing instances as one sequence, and both deliver it whole and in order', async () => {
    const [a, b] = [await open(), await open()];
    const seenOnA: BusMessage<string>[] = [];
    const seenOnB: BusMessage<string>[] = [];
    a.subscribe<string>('client:x', (m) => seenOnA.push(m));
    b.subscribe<string>('client:x', (m) => seenOnB.push(m));
    const published = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).publish('client:x', `m${i}`)));
    expect(published.map((m) => m.seq).sort((x, y) => x - y)).to.deep.equal(Array.from({ length: 40 }, (_, i) => i + 1));
    await until(() => seenOnA.length === 40 && seenOnB.length === 40, 'both instances to deliver 40 messages');
    const bySeq = new Map(published.map((m) => [m.seq, m.payload]));
    for (const seen of [seenOnA, seenOnB]) {
      expect(seen.map((m) => m.seq)).to.deep.equal(Array.from({ length: 40 }, (_, i) => i + 1));
      expect(seen.every((m) => bySeq.get(m.seq) === m.payload)).to.equal(true);
    }
    expect(await a.lastSeq('client:x')).to.equal(40);
    expect((await b.replay('client:x', 38)).map((m) => m.payload)).to.deep.equal([bySeq.get(39), bySeq.get(40)]);
    expect(failures).to.deep.equal([]);
  });

  it("reads a notice's topic without parsing the notice, and one it cannot read so is parsed whole and delivered", async () => {
    const [a, b] = [await open(), await open()];
    const raw = new pg.Client({ connectionString: db.url });
    await raw.connect();
    const notices: string[] = [];
    raw.on('notification', (n) => notices.push(n.payload ?? ''));
    await raw.query(`LISTEN ${CHANNEL}`);
    try {
      const topics = ['client:plain', 'client:we"ird\\one', 'client:ünï', 'client:x {"t" : "y"}'];
      const seen = new Map<string, unknown[]>(topics.map((topic) => [topic, []]));
      for (const topic of topics) b.subscribe(topic, (m) => seen.get(topic)!.push(m.payload));
      for (const topic of topics) await a.publish(topic, { for: topic });
      await until(() => notices.length === 4 && [...seen.values()].every((got) => got.length === 1), 'four notices, each delivered on B');
      for (const topic of topics) expect(seen.get(topic)).to.deep.equal([{ for: topic }]);
      // As the statement writes them: read where it can be (no escape in the topic), never read wrong.
      expect(notices.map(topicOf)).to.deep.equal(['client:plain', undefined, 'client:ünï', undefined]);
      expect(notices.map((text) => (JSON.parse(text) as { t: string }).t)).to.deep.equal(topics);
    } finally {
      await raw.end();
    }
    expect(failures).to.deep.equal([]);
  });

  it('numbers the publishes of one turn (one statement) per topic in publish order, and delivers them in order elsewhere', async () => {
    // A pool of one: replay reads share it; publishing has its own connection.
    const a = await open(undefined, 1);
    const b = await open();
    const topics = ['client:p', 'client:q', 'client:r'];
    const seen = new Map(topics.map((t) => [t, [] as BusMessage<string>[]]));
    for (const topic of topics) b.subscribe<string>(topic, (m) => seen.get(topic)!.push(m));
    const published = await Promise.all(Array.from({ length: 90 }, (_, i) => a.publish(topics[i % 3]!, `${topics[i % 3]} #${Math.floor(i / 3) + 1}`)));
    for (const message of published) expect(message.payload).to.equal(`${message.topic} #${message.seq}`);
    await until(() => topics.every((t) => seen.get(t)!.length === 30), 'the other instance to deliver 30 messages of each topic');
    for (const topic of topics) {
      expect(seen.get(topic)!.map((m) => m.payload)).to.deep.equal(Array.from({ length: 30 }, (_, i) => `${topic} #${i + 1}`));
      expect(seen.get(topic)!.map((m) => m.seq)).to.deep.equal(Array.from({ length: 30 }, (_, i) => i + 1));
      expect((await b.replay<string>(topic, 28)).map((m) => m.payload)).to.deep.equal([`${topic} #29`, `${topic} #30`]);
    }
    // A message that is not JSON-serialisable fails alone; the bus keeps publishing.
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    let refused: unknown;
    await a.publish('client:p', cyclic).catch((error: unknown) => (refused = error));
    expect(refused).to.be.instanceOf(TypeError);
    expect((await a.publish('client:p', 'after')).seq).to.equal(31);
    expect(failures).to.deep.equal([]);
  });

  it('keeps publish order across the statements pipelined on its connection, each answered after its commit', async () => {
    const [a, b] = [await open(), await open()];
    const seen: string[] = [];
    b.subscribe<string>('client:o', (m) => seen.push(m.payload));
    await a.publish('client:o', 'o #1');
    // Another session holds the topic's row, so every publishing statement waits in the server behind it.
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query("SELECT seq FROM bus_topics WHERE topic = 'client:o' FOR UPDATE");
      let answered = 0;
      const pending: Promise<BusMessage<string>>[] = [];
      // One publish per turn of the event loop: the first two go as statements of their own, the rest wait together for a third.
      for (let i = 2; i <= 12; i++) {
        pending.push(a.publish('client:o', `o #${i}`).finally(() => answered++));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await until(async () => (await holder.query("SELECT 1 FROM pg_stat_activity WHERE application_name = 'bus-test (publish)' AND wait_event_type = 'Lock'")).rowCount === 1, 'the first statement to wait for the row');
      expect(answered).to.equal(0);
      await holder.query('COMMIT');
      const published = await Promise.all(pending);
      expect(published.map((m) => `${m.payload} = ${m.seq}`)).to.deep.equal(Array.from({ length: 11 }, (_, i) => `o #${i + 2} = ${i + 2}`));
    } finally {
      await holder.end();
    }
    await until(() => seen.length === 12, 'the other instance to deliver 12 messages');
    expect(seen).to.deep.equal(Array.from({ length: 12 }, (_, i) => `o #${i + 1}`));
  });

  it('opens a new publishing connection after losing one, and numbers on without a gap', async () => {
    const [a, b] = [await open(), await open()];
    const seen: number[] = [];
    b.subscribe<number>('t', (m) => seen.push(m.seq));
    await a.publish('t', 1);
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      const { rowCount } = await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'bus-test (publish)'");
      expect(rowCount).to.equal(1);
    } finally {
      await admin.end();
    }
    await until(() => connectionErrors.length === 1, 'the bus to learn that its publishing connection is gone');
    expect((await a.publish('t', 2)).seq).to.equal(2);
    expect((await a.publish('t', 3)).seq).to.equal(3);
    await until(() => seen.length === 3, 'three deliveries');
    expect(seen).to.deep.equal([1, 2, 3]);
  });

  it('delivers a message too big for a NOTIFY payload from the table, in its place in the order', async () => {
    const [a, b] = [await open(), await open()];
    const seen: BusMessage<string>[] = [];
    b.subscribe<string>('t', (m) => seen.push(m));
    const big = 'x'.repeat(20_000);
    await a.publish('t', 'before');
    await a.publish('t', big);
    await a.publish('t', 'after');
    await until(() => seen.length === 3, 'three deliveries');
    expect(seen.map((m) => [m.seq, m.payload.length])).to.deep.equal([[1, 6], [2, 20_000], [3, 5]]);
  });

  it('catches up from the table after its LISTEN connection is cut, without gaps or repeats', async () => {
    const [a, b] = [await open(), await open()];
    const seen: number[] = [];
    b.subscribe<number>('t', (m) => seen.push(m.payload));
    await a.publish('t', 1);
    await until(() => seen.length === 1, 'the first delivery');
    // The server ends B's listening session (as a database restart or a network cut would).
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      const { rowCount } = await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'bus-test (listen)' AND pid <> pg_backend_pid()");
      expect(rowCount).to.equal(2);
    } finally {
      await admin.end();
    }
    for (let i = 2; i <= 5; i++) await a.publish('t', i);
    await until(() => seen.length >= 5 && b.listening, 'B to reconnect and catch up', 10_000);
    await a.publish('t', 6);
    await until(() => seen.length >= 6, 'the delivery after the reconnect');
    expect(seen).to.deep.equal([1, 2, 3, 4, 5, 6]);
  });

  it('prunes messages outside the replay window but keeps the topic numbering', async () => {
    const a = await open({ replayWindow: 2, replayWindowMs: 600_000 });
    for (let i = 1; i <= 5; i++) await a.publish('t', i);
    expect(await a.prune()).to.equal(3);
    expect((await a.replay('t', 0)).map((m) => m.seq)).to.deep.equal([4, 5]);
    expect((await a.publish('t', 6)).seq).to.equal(6);
  });

  it('drops the index on at that releases up to 3c7f458 made (nothing reads it), several instances starting at once', async () => {
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      // The tables as 3c7f458's bus made them, with a message in them.
      await admin.query(`
        CREATE TABLE bus_topics (topic text COLLATE "C" PRIMARY KEY, seq bigint NOT NULL);
        CREATE TABLE bus_messages (topic text COLLATE "C" NOT NULL, seq bigint NOT NULL, at bigint NOT NULL, payload json NOT NULL, PRIMARY KEY (topic, seq));
        CREATE INDEX bus_messages_at ON bus_messages (at);
        INSERT INTO bus_topics VALUES ('t', 1);
        INSERT INTO bus_messages VALUES ('t', 1, ${Date.now()}, '"old"');`);
      const opened = await Promise.all([open(), open(), open()]);
      const { rows } = await admin.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE tablename = 'bus_messages'`);
      expect(rows.map((row) => row.indexname)).to.deep.equal(['bus_messages_pkey']);
      expect((await opened[1]!.publish('t', 'new')).seq).to.equal(2);
      expect((await opened[2]!.replay('t', 0)).map((m) => m.payload)).to.deep.equal(['old', 'new']);
    } finally {
      await admin.end();
    }
  });

  it('opens on a database where another instance already created the tables, several at once', async () => {
    const opened = await Promise.all([open(), open(), open()]);
    await opened[0]!.publish('t', 'one');
    expect(await opened[2]!.lastSeq('t')).to.equal(1);
  });
});
