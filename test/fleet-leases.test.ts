import { expect } from 'chai';
import { rm } from 'node:fs/promises';
import pg from 'pg';
import type { Transport } from '../contracts/transport.js';
import type { GenerationService } from '../plugins/generations/api.js';
import { postJson, writeWorkflows } from './e2e-support.js';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { grabbing } from './helpers/fixture-plugins.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { until } from './helpers/until.js';

/**
 * A lease lost while a generation runs (renewals that came too late: another instance claimed it): the
 * instance lets the generation go — it records no end and publishes no frame for it — and whoever then
 * claims it records the end once. Seen in the fleet frames test on a loaded machine: a starved
 * instance's lease was claimed by another, both followed the prompt, and the client got two `closed`
 * frames for one generation.
 */
describe('fleet: an instance that lost a generation\'s lease lets it go', function () {
  this.timeout(40_000);
  let db: TestDatabase;
  let workflows: string;
  let fake: FakeComfy;
  let bridge: RunningBridge;
  let sql: pg.Client;
  let generations: GenerationService;

  beforeEach(async () => {
    db = await createTestDatabase();
    workflows = await writeWorkflows();
    fake = await startFakeComfy({ nodeDurationMs: 1 });
    const grabbed: { transport?: Transport; generations?: GenerationService } = {};
    bridge = await startBridge({
      plugins: {
        // Renewals every 20 s: what notices the lost lease here is the check before the end.
        'storage-postgres': { url: db.url, poolSize: 4, healthIntervalMs: 60_000, leaseMs: 60_000 },
        'bus-postgres': { url: db.url, poolSize: 2 },
        comfyui: { backends: [{ url: fake.url, name: 'fake' }], reconnect: { initialMs: 20, maxMs: 200, jitter: 0 }, pollIntervalMs: 200 },
        workflows: { dir: workflows, watch: false },
        generations: {},
        results: {},
        generate: {},
      },
      extraPlugins: [grabbing('lease-grab', ['transport', 'generations'], grabbed)],
    });
    await until(() => grabbed.transport!.pickBackend() !== undefined, 'the fake ComfyUI backend to come up', 5000);
    generations = grabbed.generations!;
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
  });

  afterEach(async () => {
    await sql?.end();
    await bridge?.close();
    await fake?.stop();
    await rm(workflows, { recursive: true, force: true });
    await db.drop();
  });

  const row = async (id: string) =>
    (await sql.query<{ state: string; lease_owner: string }>(`SELECT doc->>'state' AS state, lease_owner FROM generations WHERE id = $1`, [id])).rows[0];
  const ends = async (id: string) =>
    (await sql.query(`SELECT seq FROM bus_messages WHERE payload->>'generationId' = $1 AND (payload->>'ends')::boolean`, [id])).rowCount;

  it('records no end and publishes no frame for it, and ends it once when it claims it back', async () => {
    fake.setNodeDuration('TestSleep', 1500);
    const res = await postJson(`${bridge.url}/generate-based-workflow?clientId=lease-1`, { workflow: 'sleepy' });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    const id = (res.body as { id: string }).id;
    const promptId = fake.prompts[0]!.promptId;

    // Another instance claims it while it runs (its lease far in the future).
    await sql.query(`UPDATE generations SET lease_owner = 'another-instance', lease_until = now() + interval '1 hour' WHERE id = $1`, [id]);
    const history = async () => ((await (await fetch(`${fake.url}/history/${promptId}`)).json()) as Record<string, unknown>)[promptId];
    await until(async () => (await history()) !== undefined, 'the prompt to finish in ComfyUI', 10_000);
    // This instance saw the end (it polls every 200 ms) and stopped following it, leaving it to the owner.
    await until(() => generations.activeCount('lease-1') === 0, 'this instance to stop following the generation', 10_000);
    expect(['queued', 'running']).to.include((await row(id))!.state);
    expect((await row(id))!.lease_owner).to.equal('another-instance');
    expect(await ends(id)).to.equal(0);

    // The other instance dies: its lease runs out, this one claims it back and records the end, once.
    await sql.query(`UPDATE generations SET lease_until = now() - interval '1 second' WHERE id = $1`, [id]);
    await until(async () => (await row(id))?.state === 'completed', 'the generation claimed back and completed', 10_000);
    // Its frames are published once the end is written.
    await until(async () => (await ends(id))! > 0, 'the end published', 5000);
    expect(await ends(id)).to.equal(1);
    expect(fake.prompts.filter((p) => p.accepted)).to.have.length(1);
  });
});
