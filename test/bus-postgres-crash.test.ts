import { expect } from 'chai';
import { PostgresBus } from '../plugins/bus-postgres/pg-bus.js';
import { startCrashablePostgres, type CrashablePostgres } from './helpers/postgres-crash.js';
import { until } from './helpers/until.js';

const TOPICS = ['client:crash-a', 'client:crash-b'];
/** Publishes awaited at once: enough that some are always on their way when PostgreSQL is killed. */
const LANES = 8;

/** What the publisher was told, per topic, in the order of the publish calls. */
interface Ledger {
  /** Every publish call: its topic and payload, in call order. */
  calls: { topic: string; payload: string }[];
  /** Answered publishes: seq → payload, per topic (a seq answered twice is kept in `reused`). */
  acknowledged: Map<string, Map<number, string>>;
  reused: string[];
  /** Payloads whose publish was rejected (the crash took their statement). */
  rejected: Set<string>;
}

/**
 * A PostgreSQL crash (SIGKILL to the postmaster and its children, fsync on) in the middle of a stream of
 * publishes: a seq the bus answered a publisher with is a promise to every client that saw it, so after the
 * restart it must still name the same frame, and `since=` replay must give back every acknowledged frame at
 * its seq, in order, without a gap. This holds because each publishing statement commits synchronously
 * (its WAL flushed before the answer): were it committed asynchronously, the crash would take back the last
 * bumps of bus_topics and hand their seqs to the frames published after the restart.
 */
describe('bus-postgres across a kill -9 of PostgreSQL', function () {
  this.timeout(60_000);
  let server: CrashablePostgres | undefined;
  const buses: PostgresBus[] = [];

  afterEach(async () => {
    for (const bus of buses.splice(0)) await bus.close();
    await server?.remove();
    server = undefined;
  });

  const open = async (url: string): Promise<PostgresBus> => {
    const bus = await PostgresBus.open({
      url,
      poolSize: 2,
      connectTimeoutMs: 5000,
      statementTimeoutMs: 10_000,
      replayWindow: 100_000,
      replayWindowMs: 3_600_000,
      applicationName: 'bus-crash-test',
      onListenerError: () => undefined,
      onConnectionError: () => undefined,
    });
    buses.push(bus);
    return bus;
  };

  /** Publishes on LANES lanes until `done()`; every call and its answer go into the ledger. */
  const stream = async (bus: PostgresBus, ledger: Ledger, done: () => boolean): Promise<void> => {
    const lane = async () => {
      while (!done()) {
        const topic = TOPICS[ledger.calls.length % TOPICS.length]!;
        const payload = `frame ${ledger.calls.length}`;
        ledger.calls.push({ topic, payload });
        try {
          const { seq } = await bus.publish(topic, payload);
          const answered = ledger.acknowledged.get(topic)!;
          if (answered.has(seq)) ledger.reused.push(`${topic} seq ${seq}: ${answered.get(seq)} and ${payload}`);
          answered.set(seq, payload);
        } catch {
          ledger.rejected.add(payload);
        }
      }
    };
    await Promise.all(Array.from({ length: LANES }, lane));
  };

  const acknowledgedCount = (ledger: Ledger) => [...ledger.acknowledged.values()].reduce((sum, m) => sum + m.size, 0);

  it('never answers a seq it gave before the crash to another frame, and replays exactly the acknowledged frames in order', async () => {
    // wal_writer_delay at its maximum: WAL not flushed by a commit stays in shared memory up to 10 s, so an
    // asynchronous commit is surely lost by the kill (with synchronous commits the setting changes nothing).
    server = await startCrashablePostgres({ wal_writer_delay: '10s' });
    const bus = await open(server.url);
    const ledger: Ledger = { calls: [], acknowledged: new Map(TOPICS.map((t) => [t, new Map()])), reused: [], rejected: new Set() };

    // Before the crash: kill while the lanes publish; they stop at the first publish the crash fails.
    const before = stream(bus, ledger, () => ledger.rejected.size > 0);
    await until(() => acknowledgedCount(ledger) >= 300, '300 acknowledged publishes', 20_000);
    await server.crash();
    await before;
    const acknowledgedBefore = acknowledgedCount(ledger);

    // After the restart: the same bus publishes on (its connections come back by themselves).
    await server.restart();
    let after = 0;
    const target = acknowledgedBefore + 200;
    await stream(bus, ledger, () => (after = acknowledgedCount(ledger)) >= target);
    expect(after).to.be.at.least(target);

    expect(ledger.reused, 'seqs answered to two different frames').to.deep.equal([]);

    // since= replay, read by an instance started after the crash.
    const reader = await open(server.url);
    const callIndex = new Map(ledger.calls.map((call, i) => [call.payload, i]));
    for (const topic of TOPICS) {
      const replayed = await reader.replay<string>(topic, 0);
      const last = await reader.lastSeq(topic);
      expect(replayed.map((m) => m.seq), `${topic}: seqs 1..${last} without a gap`).to.deep.equal(Array.from({ length: last }, (_, i) => i + 1));
      const bySeq = new Map(replayed.map((m) => [m.seq, m.payload]));
      for (const [seq, payload] of ledger.acknowledged.get(topic)!) expect(bySeq.get(seq), `${topic} seq ${seq}`).to.equal(payload);
      // Beyond the acknowledged frames, only those whose answer the crash took (committed, then killed) may be there.
      const unanswered = replayed.filter((m) => ledger.acknowledged.get(topic)!.get(m.seq) !== m.payload).map((m) => m.payload);
      expect(unanswered.filter((payload) => !ledger.rejected.has(payload)), `${topic}: frames never published`).to.deep.equal([]);
      expect(new Set(replayed.map((m) => m.payload)).size, `${topic}: a frame twice`).to.equal(replayed.length);
      // In the order of the publish calls (one publisher: a topic's seqs follow its calls).
      const order = replayed.map((m) => callIndex.get(m.payload)!);
      expect(order, `${topic}: replay in call order`).to.deep.equal([...order].sort((a, b) => a - b));
    }
  });
});
