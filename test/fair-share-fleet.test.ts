import { expect } from 'chai';
import { rm } from 'node:fs/promises';
import type { Storage } from '../contracts/storage.js';
import type { Transport } from '../contracts/transport.js';
import { writeWorkflows } from './e2e-support.js';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { grabbing } from './helpers/fixture-plugins.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { until } from './helpers/until.js';

const HOLDER_KEY = 'fleetHolder-Hj3kL8mN2pQ5rS9t';
const BURST_KEY = 'fleetBurst-Wx7yZ1aB4cD8eF2gH';

/**
 * Quotas are the fleet's: two instances on one PostgreSQL (each in front of its own fake ComfyUI), a
 * key's generations on one count when the other checks, and a refused request records nothing.
 */
describe('fair share: quotas count the fleet (two instances on one PostgreSQL)', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let workflows: string;
  const fakes: FakeComfy[] = [];
  const instances: RunningBridge[] = [];

  async function instance(): Promise<{ bridge: RunningBridge; fake: FakeComfy; storage: Storage }> {
    const fake = await startFakeComfy({ nodeDurationMs: 1 });
    fakes.push(fake);
    const grabbed: { transport?: Transport; storage?: Storage } = {};
    const bridge = await startBridge({
      plugins: {
        'storage-postgres': { url: db.url, poolSize: 4, healthIntervalMs: 60_000 },
        'bus-postgres': { url: db.url, poolSize: 2 },
        comfyui: { backends: [{ url: fake.url, name: 'fake' }], reconnect: { initialMs: 20, maxMs: 200, jitter: 0 } },
        workflows: { dir: workflows, watch: false },
        auth: { keys: [{ id: 'holder', key: HOLDER_KEY }, { id: 'burst', key: BURST_KEY }] },
        generations: { fairShare: { maxPromptsPerBackend: 1 } },
        results: {},
        generate: { quotas: { keys: { holder: { maxActive: 3 }, burst: { perMinute: 3 } } } },
      },
      extraPlugins: [grabbing(`fair-fleet-grab-${instances.length}`, ['transport', 'storage'], grabbed)],
    });
    instances.push(bridge);
    await until(() => grabbed.transport!.pickBackend() !== undefined, 'the fake ComfyUI backend to come up', 5000);
    return { bridge, fake, storage: grabbed.storage! };
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

  let color = 0;
  const generate = async (bridge: RunningBridge, key: string, clientId: string) => {
    const response = await fetch(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ workflow: 'sleepy', '1/color': ++color }),
    });
    return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as Record<string, unknown> };
  };

  it('refuses on B what the key has active on A and B together (a held generation counts), and the fourth start within a minute', async () => {
    const a = await instance();
    const b = await instance();
    for (const fake of fakes) fake.setNodeDuration('TestSleep', 20_000);

    // Running on A, held behind it on A (A's one slot is taken), running on B.
    for (const [bridge, clientId] of [[a.bridge, 'h-1'], [a.bridge, 'h-2'], [b.bridge, 'h-3']] as const) {
      const answer = await generate(bridge, HOLDER_KEY, clientId);
      expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    }
    await until(() => a.fake.prompts.length === 1 && b.fake.prompts.length === 1, 'one prompt on each ComfyUI');
    const refused = await generate(b.bridge, HOLDER_KEY, 'h-4');
    expect(refused.status, JSON.stringify(refused.body)).to.equal(429);
    expect(refused.body).to.include({ error: 'quota_exceeded', limit: 'maxActive' });
    expect(refused.body.detail).to.include('API key holder').and.to.include('3 generations queued or running');
    expect(Number(refused.retryAfter)).to.be.at.least(1);

    // perMinute: three starts spread over both instances, the fourth refused wherever it comes.
    for (const bridge of [a.bridge, b.bridge, a.bridge]) expect((await generate(bridge, BURST_KEY, 'burst')).status).to.equal(200);
    const burst = await generate(b.bridge, BURST_KEY, 'burst');
    expect(burst.status, JSON.stringify(burst.body)).to.equal(429);
    expect(burst.body).to.include({ error: 'quota_exceeded', limit: 'perMinute' });
    expect(Number(burst.retryAfter)).to.be.within(1, 60);

    // Nothing refused was recorded: 3 + 3 generations in the shared store.
    for (const owner of ['holder', 'burst']) expect((await a.storage.generations.page({ owner, limit: 1, offset: 0 })).total, owner).to.equal(3);
  });
});
