/**
 * The cross-instance half of the fleet test: every instance on the PostgreSQL bus (plugins/bus-postgres),
 * so a socket on instance B sees the frames of a generation published on A.
 */
import { expect } from 'chai';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { kill, killInTurn, startInstance, submitUntilAcknowledged as submit, writeFleetConfig, type Instance } from './helpers/fleet.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { startRoundRobinProxy, type RoundRobinProxy } from './helpers/proxy.js';
import { until } from './helpers/until.js';

/** The bus every instance uses: the PostgreSQL one in place of the in-process one. */
const fleetBus = (url: string) => ({ bus: false, 'bus-postgres': { url } });
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const CLIENTS = 50;
const PER_CLIENT = 2;

interface Frame {
  status: string;
  seq?: number;
  data?: { id?: string };
}

/** A client's socket through the proxy that reconnects with `since=` (to any instance) until told to stop. */
class Follower {
  readonly bySeq = new Map<number, Frame>();
  #ws: WebSocket | undefined;
  #stopped = false;
  constructor(
    private readonly base: string,
    readonly clientId: string,
  ) {}

  start(): void {
    if (this.#stopped) return;
    const last = Math.max(0, ...this.bySeq.keys());
    const ws = new WebSocket(`${this.base.replace('http', 'ws')}/ws?clientId=${this.clientId}${last > 0 ? `&since=${last}` : ''}`);
    this.#ws = ws;
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const frame = JSON.parse(data.toString()) as Frame;
      if (typeof frame.seq === 'number') this.bySeq.set(frame.seq, frame);
    });
    ws.on('error', () => undefined);
    ws.on('close', () => void pause(50).then(() => this.start()));
  }

  /** The generations this client saw end (a `closed` or `error` frame naming it). */
  ended(): Set<string> {
    return new Set([...this.bySeq.values()].filter((f) => (f.status === 'closed' || f.status === 'error') && f.data?.id).map((f) => f.data!.id!));
  }

  stop(): void {
    this.#stopped = true;
    this.#ws?.terminate();
  }
}

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
  it('50 clients reconnecting through the proxy with since= get every terminal frame, seqs without gaps, while instances are killed', async () => {
    const followers = Array.from({ length: CLIENTS }, (_, c) => new Follower(proxy!.url, `frames-client-${c}`));
    for (const follower of followers) follower.start();
    const killer = killInTurn(instances, config, proxy!, { everyMs: 2500 });
    const acked = new Map<string, string[]>();
    try {
      const work = async () => {
        await Promise.all(
          followers.map(async (follower) => {
            const ids: string[] = [];
            for (let k = 0; k < PER_CLIENT; k++) ids.push(await submit(proxy!.url, follower.clientId));
            acked.set(follower.clientId, ids);
          }),
        );
        const missing = () => followers.flatMap((f) => (acked.get(f.clientId) ?? []).filter((id) => !f.ended().has(id)).map((id) => `${f.clientId}:${id}`));
        await until(() => killer.kills() >= 2 && missing().length === 0, 'every client to get the terminal frame of each of its generations', 120_000).catch((error: Error) => {
          throw new Error(`${error.message}; missing: ${missing().join(' ')}`);
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
