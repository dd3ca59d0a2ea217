/**
 * The cross-instance half of the fleet test: every instance on the PostgreSQL bus (plugins/bus-postgres),
 * so a socket on instance B sees the frames of a generation published on A.
 */
import { expect } from 'chai';
import { Follower } from './helpers/follower.js';
import { startBusFleet, submitUntilAcknowledged as submit, type BusFleet, type Instance } from './helpers/fleet.js';
import { until } from './helpers/until.js';


describe('a fleet with the PostgreSQL bus: frames reach a client on any instance', function () {
  this.timeout(300_000);
  let fleet: BusFleet | undefined;

  before(async () => {
    fleet = await startBusFleet('fleet-frames');
  });

  after(async () => {
    await fleet?.stop();
  });

  it('a socket on B gets, in order and numbered, the frames of a generation submitted on A', async () => {
    const { instances } = fleet!;
    const [a, b] = instances as [Instance, Instance];
    const follower = new Follower(b.url, 'a-to-b');
    follower.start();
    try {
      const id = await submit(a.url, 'a-to-b');
      await until(() => follower.ended().has(id), 'B\'s socket to get the end of the generation submitted on A', 30_000);
      const seqs = [...follower.bySeq.keys()].sort((x, y) => x - y);
      expect(seqs).to.deep.equal(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i));
      expect([...follower.bySeq.values()].every((f) => f.data?.id === id)).to.equal(true);
    } finally {
      follower.stop();
    }
  });
});
