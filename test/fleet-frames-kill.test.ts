/**
 * 50 clients whose sockets reconnect through the round-robin proxy with since= while instances are
 * SIGKILLed every 2.5 s; every client must get the terminal frame of each of its generations, exactly
 * once, seqs without gaps.
 *
 * It used to fail about once in 12 runs: a generation's end is two writes (the final state, then its
 * terminal frames on the bus), and an instance SIGKILLed between them left a `completed` row nobody
 * claimed. The lease now outlives the final state until the frames are published, and a survivor
 * claiming a finished but unannounced generation publishes its end (unless the bus already keeps it).
 */
import { expect } from 'chai';
import pg from 'pg';
import { Follower } from './helpers/follower.js';
import { killInTurn, startBusFleet, submitUntilAcknowledged as submit, type BusFleet } from './helpers/fleet.js';
import { until } from './helpers/until.js';

const CLIENTS = 50;
const PER_CLIENT = 2;

describe('a fleet with the PostgreSQL bus: 50 reconnecting clients while instances are killed', function () {
  this.timeout(300_000);
  let fleet: BusFleet | undefined;

  before(async () => {
    fleet = await startBusFleet('fleet-frames-kill');
  });

  after(async () => {
    await fleet?.stop();
  });

  it('50 clients reconnecting through the proxy with since= get every terminal frame, seqs without gaps, while instances are killed', async () => {
    const { db, instances, proxy, config } = fleet!;
    const followers = Array.from({ length: CLIENTS }, (_, c) => new Follower(proxy.url, `frames-client-${c}`));
    for (const follower of followers) follower.start();
    const killer = killInTurn(instances, config, proxy, { everyMs: 2500 });
    const acked = new Map<string, string[]>();
    try {
      const work = async () => {
        await Promise.all(
          // A seed each: identical prompts come from the fake's cache in ~1 ms, and kills would miss the work.
          followers.map(async (follower, c) => {
            const ids: string[] = [];
            for (let k = 0; k < PER_CLIENT; k++) ids.push(await submit(proxy.url, follower.clientId, { '3/seed': c * PER_CLIENT + k }));
            acked.set(follower.clientId, ids);
          }),
        );
        const missing = () => followers.flatMap((f) => (acked.get(f.clientId) ?? []).filter((id) => !f.ended().has(id)).map((id) => `${f.clientId}:${id}`));
        await until(() => killer.kills() >= 2 && missing().length === 0, 'every client to get the terminal frame of each of its generations', 120_000).catch(async (error: Error) => {
          // Say where each missing end is: the generation's row and lease, and the frames the bus kept for it.
          const sql = new pg.Client({ connectionString: db.url });
          await sql.connect();
          const ids = missing().map((m) => m.split(':')[1]!);
          const rows = await sql.query(`SELECT id, doc->>'state' AS state, lease_owner, lease_until < now() AS expired FROM generations WHERE id = ANY($1::text[])`, [ids]);
          const frames = await sql.query(`SELECT topic, seq, payload->>'status' AS status, payload->>'generationId' AS id FROM bus_messages WHERE payload->>'generationId' = ANY($1::text[]) ORDER BY topic, seq`, [ids]);
          await sql.end();
          throw new Error(`${error.message}; missing: ${missing().join(' ')}\nrows: ${JSON.stringify(rows.rows)}\nframes: ${JSON.stringify(frames.rows)}`);
        });
      };
      await Promise.race([work(), killer.failed]);
    } finally {
      for (const follower of followers) follower.stop();
      await killer.stop();
    }
    for (const follower of followers) {
      const seqs = [...follower.bySeq.keys()].sort((x, y) => x - y);
      expect(seqs, `seqs of ${follower.clientId}`).to.deep.equal(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i));
      for (const id of acked.get(follower.clientId)!) {
        expect([...follower.bySeq.values()].filter((f) => f.data?.id === id && f.status === 'closed'), `end of ${id}`).to.have.length(1);
      }
    }
  });
});
