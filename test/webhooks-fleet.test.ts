import { expect } from 'chai';
import { rm } from 'node:fs/promises';
import type { Storage } from '../contracts/storage.js';
import { writeWorkflows } from './e2e-support.js';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { grabbing } from './helpers/fixture-plugins.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { until } from './helpers/until.js';
import { newSecret, WebhookReceiver } from './helpers/webhook-receiver.js';

/** Two bridges on one PostgreSQL database both send from the shared outbox: each delivery goes out once. */
describe('webhooks: two bridges sharing PostgreSQL', function () {
  this.timeout(60_000);
  const secret = newSecret();
  let fake: FakeComfy;
  let receiver: WebhookReceiver;
  let database: TestDatabase;
  let workflowsDir: string;
  const bridges: RunningBridge[] = [];
  const grabbed: { storage?: Storage } = {};

  before(async () => {
    fake = await startFakeComfy({ nodeDurationMs: 1 });
    receiver = await new WebhookReceiver(secret).start();
    database = await createTestDatabase();
    workflowsDir = await writeWorkflows();
    for (const name of ['a', 'b']) {
      bridges.push(
        await startBridge({
          plugins: {
            'storage-postgres': { url: database.url, poolSize: 4 },
            bus: {},
            comfyui: { backends: [{ url: fake.url, name: 'fake' }] },
            workflows: { dir: workflowsDir, watch: false },
            generations: {},
            results: {},
            generate: { maxActivePerClient: 100 },
            // Both poll often, so both race for every delivery.
            webhooks: { secret, allowPrivateAddresses: true, pollMs: 10, concurrency: 2 },
          },
          extraPlugins: name === 'a' ? [grabbing('fleet-grab', ['storage'], grabbed)] : [],
          config: { server: { publicUrl: 'https://bridge.example.com' } },
        }),
      );
    }
    await until(() => fake.clientCount >= 2, 'both bridges to connect', 10_000);
  });

  after(async () => {
    for (const bridge of bridges) await bridge.close();
    await receiver.stop();
    await fake.stop();
    await database.drop();
    await rm(workflowsDir, { recursive: true, force: true });
  });

  it('twenty generations submitted to both: twenty deliveries, each received once and recorded delivered once', async () => {
    const ids = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const res = await fetch(`${bridges[i % 2]!.url}/generate-based-workflow?clientId=fleet-${i}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ workflow: 'invert', webhook: { url: `${receiver.url}/in` } }),
        });
        const body = (await res.json()) as { id: string };
        expect(res.status, JSON.stringify(body)).to.equal(200);
        return body.id;
      }),
    );
    await until(() => receiver.received.length >= 20, 'twenty deliveries', 30_000);
    await until(async () => {
      const all = await Promise.all(ids.map((id) => grabbed.storage!.outbox.forGeneration(id)));
      return all.every((d) => d.length === 1 && d[0]!.state === 'delivered');
    }, 'every delivery recorded delivered', 10_000);
    expect(receiver.received.map((r) => r.json.data.id)).to.have.members(ids);
    expect(new Set(receiver.received.map((r) => r.id)).size).to.equal(20);
    expect(receiver.received.every((r) => r.verified)).to.equal(true);
    for (const id of ids) expect((await grabbed.storage!.outbox.forGeneration(id))[0]!.attempts).to.equal(1);
  });
});
