/**
 * The cross-instance half of the fleet test: every instance on the PostgreSQL bus (plugins/bus-postgres),
 * so a socket on instance B sees the frames of a generation published on A.
 */
import { expect } from 'chai';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Follower } from './helpers/follower.js';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { kill, startInstance, submitUntilAcknowledged as submit, writeFleetConfig, type Instance } from './helpers/fleet.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { startRoundRobinProxy, type RoundRobinProxy } from './helpers/proxy.js';
import { until } from './helpers/until.js';

/** The bus every instance uses: the PostgreSQL one in place of the in-process one. */
const fleetBus = (url: string) => ({ bus: false, 'bus-postgres': { url } });

describe('a fleet with the PostgreSQL bus: frames reach a client on any instance', function () {
  this.timeout(300_000);
  let db: TestDatabase;
  let dir: string;
  let fakes: FakeComfy[] = [];
  let instances: Instance[] = [];
  let proxy: RoundRobinProxy | undefined;
  let config: string;

  before(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'fleet-frames-'));
    await mkdir(join(dir, 'data'));
    fakes = [await startFakeComfy({ nodeDurationMs: 5 }), await startFakeComfy({ nodeDurationMs: 5 })];
    for (const fake of fakes) fake.setNodeDuration('KSampler', 40);
    config = await writeFleetConfig(dir, { databaseUrl: db.url, backends: fakes.map((f) => f.url), plugins: fleetBus(db.url) });
    instances = await Promise.all([0, 1, 2].map(() => startInstance(config)));
    proxy = await startRoundRobinProxy(instances.map((i) => i.url));
  });

  after(async () => {
    await Promise.all(instances.map((instance) => kill(instance)));
    await proxy?.close();
    for (const fake of fakes) await fake.stop();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a socket on B gets, in order and numbered, the frames of a generation submitted on A', async () => {
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
