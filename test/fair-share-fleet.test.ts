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
 * Quotas are the fleet's: two instances on one PostgreSQL, a key's generations on one count when the
 * other checks, and a refused request records nothing. The saturation rule sees the fleet too: a
 * ComfyUI that reports a full queue (another instance's prompt) is saturated for every instance.
 */
describe('fair share in a fleet (two instances on one PostgreSQL)', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let workflows: string;
  const fakes: FakeComfy[] = [];
  const instances: RunningBridge[] = [];

  /** An instance in front of its own fake ComfyUI, or of the one given (shared with another instance). */
  async function instance(given?: FakeComfy): Promise<{ bridge: RunningBridge; fake: FakeComfy; storage: Storage; transport: Transport }> {
    const fake = given ?? (await startFakeComfy({ nodeDurationMs: 1 }));
    if (!given) fakes.push(fake);
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
        interrupt: {},
        generate: { quotas: { keys: { holder: { maxActive: 3 }, burst: { perMinute: 3 } } } },
      },
      extraPlugins: [grabbing(`fair-fleet-grab-${instances.length}`, ['transport', 'storage'], grabbed)],
    });
    instances.push(bridge);
    await until(() => grabbed.transport!.pickBackend() !== undefined, 'the fake ComfyUI backend to come up', 5000);
    return { bridge, fake, storage: grabbed.storage!, transport: grabbed.transport! };
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

  it("holds on B while A's prompt fills the ComfyUI both share (its reported queue counts), and releases it once that ends", async () => {
    const shared = await startFakeComfy({ nodeDurationMs: 1 });
    fakes.push(shared);
    shared.setNodeDuration('TestSleep', 20_000);
    const a = await instance(shared);
    const b = await instance(shared);
    const first = await generate(a.bridge, HOLDER_KEY, 'fill');
    expect(first.status, JSON.stringify(first.body)).to.equal(200);
    await until(() => shared.prompts.length === 1, "A's prompt to reach the ComfyUI");
    await until(async () => b.transport.backends()[0]!.queueRemaining === 1, 'B to hear the ComfyUI queue holds one prompt');

    const held = await generate(b.bridge, BURST_KEY, 'waits');
    expect(held.status, JSON.stringify(held.body)).to.equal(200);
    // B has no prompt of its own there, but ComfyUI reported A's: B holds its generation, one prompt ahead.
    expect(held.body.position).to.equal(1);
    expect(shared.prompts).to.have.length(1);
    expect((await b.storage.generations.get(held.body.id as string))!.backend).to.equal(null);

    shared.setNodeDuration('TestSleep', 1);
    const stop = await fetch(`${a.bridge.url}/interrupt?id=${first.body.id as string}`, { method: 'POST', headers: { authorization: `Bearer ${HOLDER_KEY}` } });
    expect(stop.status).to.equal(200);
    await until(async () => (await b.storage.generations.get(held.body.id as string))!.state === 'completed', "B's generation to be released and complete", 20_000);
    expect(shared.prompts.filter((p) => p.accepted)).to.have.length(2);
  });
});
