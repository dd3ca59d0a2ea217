import { expect } from 'chai';
import { rm } from 'node:fs/promises';
import type { Transport } from '../contracts/transport.js';
import { getJson, postJson, writeWorkflows } from './e2e-support.js';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { grabbing } from './helpers/fixture-plugins.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { until } from './helpers/until.js';

/**
 * The 429 caps count the fleet's generations, not one process's: two instances on one PostgreSQL
 * (each in front of its own fake ComfyUI, so they never share a ComfyUI clientId), a generation running
 * on A, and B refuses what would pass the caps — changing nothing.
 */
describe('fleet: caps count from the shared store', function () {
  this.timeout(40_000);
  let db: TestDatabase;
  let workflows: string;
  const fakes: FakeComfy[] = [];
  const instances: RunningBridge[] = [];

  async function instance(generate: Record<string, unknown>): Promise<{ bridge: RunningBridge; fake: FakeComfy }> {
    const fake = await startFakeComfy({ nodeDurationMs: 1 });
    fakes.push(fake);
    const grabbed: { transport?: Transport } = {};
    const bridge = await startBridge({
      plugins: {
        'storage-postgres': { url: db.url, poolSize: 4, healthIntervalMs: 60_000 },
        'bus-postgres': { url: db.url, poolSize: 2 },
        comfyui: { backends: [{ url: fake.url, name: 'fake' }], reconnect: { initialMs: 20, maxMs: 200, jitter: 0 } },
        workflows: { dir: workflows, watch: false },
        generations: {},
        results: {},
        generate,
        history: {},
      },
      extraPlugins: [grabbing(`caps-grab-${instances.length}`, ['transport'], grabbed)],
    });
    instances.push(bridge);
    await until(() => grabbed.transport!.pickBackend() !== undefined, 'the fake ComfyUI backend to come up', 5000);
    return { bridge, fake };
  }

  beforeEach(async () => {
    db = await createTestDatabase();
    workflows = await writeWorkflows();
  });

  afterEach(async () => {
    for (const bridge of instances.splice(0)) await bridge.close();
    for (const fake of fakes.splice(0)) await fake.stop();
    await rm(workflows, { recursive: true, force: true });
    await db.drop();
  });

  it("B answers 429 for a client whose generation runs on A, and at the bridge-wide bound, recording nothing", async () => {
    const a = await instance({});
    const b = await instance({ maxActivePerClient: 1, maxActive: 2 });
    a.fake.setNodeDuration('TestSleep', 20_000);
    b.fake.setNodeDuration('TestSleep', 20_000);
    const first = await postJson(`${a.bridge.url}/generate-based-workflow?clientId=cap-1`, { workflow: 'sleepy' });
    expect(first.status, JSON.stringify(first.body)).to.equal(200);

    const perClient = await postJson(`${b.bridge.url}/generate-based-workflow?clientId=cap-1`, { workflow: 'sleepy' });
    expect(perClient.status, JSON.stringify(perClient.body)).to.equal(429);
    expect(perClient.body.detail).to.include('cap-1');
    expect(perClient.headers.get('retry-after')).to.match(/^\d+$/);
    // Another client still fits under B's bound of 2.
    const other = await postJson(`${b.bridge.url}/generate-based-workflow?clientId=cap-2`, { workflow: 'sleepy' });
    expect(other.status, JSON.stringify(other.body)).to.equal(200);
    await until(() => b.fake.prompts.length === 1, "B's generation to reach its ComfyUI");

    const bound = await postJson(`${b.bridge.url}/generate-based-workflow?clientId=cap-3`, { workflow: 'sleepy' });
    expect(bound.status, JSON.stringify(bound.body)).to.equal(429);
    expect(bound.body.detail).to.include('2 generations');
    expect(b.fake.prompts).to.have.length(1);
    const counts = await getJson(`${a.bridge.url}/generation-count`);
    expect(counts.body.generation_count).to.equal(2);
  });
});
