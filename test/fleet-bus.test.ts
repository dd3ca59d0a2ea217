import { expect } from 'chai';
import { rm } from 'node:fs/promises';
import type { Transport } from '../contracts/transport.js';
import { postJson, writeWorkflows } from './e2e-support.js';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { grabbing } from './helpers/fixture-plugins.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { until } from './helpers/until.js';
import { FrameReader, wsUrl, type Frame } from './ws-client.js';

/**
 * Two bridge instances in this process on one PostgreSQL (storage-postgres and bus-postgres), each
 * with its own data dir, both in front of one fake ComfyUI: the frames of a generation submitted
 * through one reach a socket on the other, with the same seq numbers, and `since=` replays on both.
 */
describe('fleet: frames across instances through bus-postgres', function () {
  this.timeout(40_000);
  let db: TestDatabase;
  let fake: FakeComfy;
  let workflows: string;
  const instances: RunningBridge[] = [];
  const readers: FrameReader[] = [];

  const shared = () => ({
    'storage-postgres': { url: db.url, poolSize: 4, healthIntervalMs: 60_000 },
    'bus-postgres': { url: db.url, poolSize: 4 },
    ws: { heartbeatMs: 1000 },
  });

  /** An instance that takes generations: ComfyUI transport, generations, generate. */
  async function submitter(): Promise<RunningBridge> {
    const grabbed: { transport?: Transport } = {};
    const bridge = await startBridge({
      plugins: {
        ...shared(),
        comfyui: { backends: [{ url: fake.url, name: 'fake' }], reconnect: { initialMs: 20, maxMs: 200, jitter: 0 } },
        workflows: { dir: workflows, watch: false },
        upload: {},
        generations: {},
        results: {},
        generate: {},
      },
      extraPlugins: [grabbing(`fleet-grab-${instances.length}`, ['transport'], grabbed)],
    });
    instances.push(bridge);
    await until(() => grabbed.transport!.pickBackend() !== undefined, 'the fake ComfyUI backend to come up', 5000);
    return bridge;
  }

  /**
   * An instance that only serves sockets. (Instances on one storage share the bridge's ComfyUI clientId,
   * and ComfyUI sends a prompt's events to the newest socket of a clientId: a second transport would take
   * A's events. Per-instance ComfyUI clientIds belong to the ownership work, not to the bus.)
   */
  async function watcher(): Promise<RunningBridge> {
    const bridge = await startBridge({ plugins: shared() });
    instances.push(bridge);
    return bridge;
  }

  async function open(bridge: RunningBridge, query: string): Promise<FrameReader> {
    const reader = await FrameReader.open(wsUrl(bridge.url, query));
    readers.push(reader);
    return reader;
  }

  /** What must be identical on every instance: seq, status, details and the generation's id and state. */
  const essence = (frames: Frame[]) => frames.map((f) => ({ seq: f.seq, status: f.status, details: f.details, id: f.data?.id, state: f.data?.state }));

  beforeEach(async () => {
    db = await createTestDatabase();
    fake = await startFakeComfy({ nodeDurationMs: 1 });
    workflows = await writeWorkflows();
  });

  afterEach(async () => {
    for (const reader of readers.splice(0)) reader.close();
    for (const bridge of instances.splice(0)) await bridge.close();
    await fake.stop();
    await rm(workflows, { recursive: true, force: true });
    await db.drop();
  });

  it('a socket on B gets, in order and with the same seqs, the frames of a generation submitted on A; since= replays on either', async () => {
    const a = await submitter();
    const b = await watcher();
    fake.setNodeDuration('TestSleep', 150);
    const onB = await open(b, '?clientId=fleet-1');
    const onA = await open(a, '?clientId=fleet-1');
    await onB.next((frame) => frame.status === 'connected');
    await onA.next((frame) => frame.status === 'connected');

    const answer = await postJson(`${a.url}/generate-based-workflow?clientId=fleet-1`, { workflow: 'sleepy' });
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    const id = answer.body.id as string;
    const closedOnB = await onB.next((frame) => frame.status === 'closed', 15_000);
    expect(closedOnB.data!.id).to.equal(id);
    await onA.next((frame) => frame.status === 'closed', 15_000);

    const seenOnB = onB.generationFrames();
    const seqs = seenOnB.map((frame) => frame.seq!);
    expect(seqs, 'consecutive seqs from 1').to.deep.equal(seqs.map((_, i) => i + 1));
    expect(seenOnB.filter((frame) => frame.data!.state === 'running').length).to.be.greaterThan(1);
    expect(essence(seenOnB)).to.deep.equal(essence(onA.generationFrames()));
    expect(seenOnB.every((frame) => frame.data!.id === id)).to.equal(true);

    // A reconnect with since= replays the same frames, whichever instance it lands on.
    const middle = seqs[Math.floor(seqs.length / 2)]!;
    for (const bridge of [a, b]) {
      const again = await open(bridge, `?clientId=fleet-1&since=${middle}`);
      await again.next((frame) => frame.status === 'closed', 5000);
      expect(essence(again.generationFrames())).to.deep.equal(essence(seenOnB.filter((frame) => frame.seq! > middle)));
    }
  });
});
