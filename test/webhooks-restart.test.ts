import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { killAll, serveBridge, type ServedBridge as Served } from './helpers/serve-process.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { until } from './helpers/until.js';
import { newSecret, WebhookReceiver } from './helpers/webhook-receiver.js';


/** `comfy-bridge serve --config <file>`, signing with `secret`. */
const serve = (configFile: string, secret: string): Promise<Served> =>
  serveBridge({ args: ['--config', configFile], env: { COMFY_BRIDGE_WEBHOOK_SECRET: secret } });

async function sigkill(served: Served): Promise<void> {
  served.child.kill('SIGKILL');
  await served.exited;
  expect(served.child.signalCode).to.equal('SIGKILL');
}

async function state(url: string, id: string): Promise<string | undefined> {
  const res = await fetch(`${url}/execution-info?id=${encodeURIComponent(id)}`).catch(() => undefined);
  return res?.status === 200 ? ((await res.json()) as { data: { state: string } }).data.state : undefined;
}

async function deliveredCount(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('comfy_bridge_webhook_deliveries_total{outcome="delivered"}'));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** Real bridge processes killed with SIGKILL: what the outbox holds goes out from the next one (nedb datafiles, or PostgreSQL). */
for (const storageName of ['storage-nedb', 'storage-postgres'] as const) {
  describe(`webhooks across a bridge killed with SIGKILL (${storageName})`, function () {
    this.timeout(90_000);
    const secret = newSecret();
    let fake: FakeComfy;
    let receiver: WebhookReceiver;
    let dir: string;
    let database: TestDatabase | undefined;
    let configFile: string;
    const running: Served[] = [];

    beforeEach(async () => {
      fake = await startFakeComfy({ nodeDurationMs: 5 });
      receiver = await new WebhookReceiver(secret).start();
      dir = await mkdtemp(join(tmpdir(), 'webhooks-restart-'));
      const storage: Record<string, unknown> =
        storageName === 'storage-nedb' ? {} : { 'storage-nedb': false, 'storage-postgres': { url: (database = await createTestDatabase()).url, leaseMs: 2000 } };
      configFile = join(dir, 'bridge.yaml');
      const config = {
        log: { level: 'info' },
        dataDir: join(dir, 'data'),
        plugins: {
          ...storage,
          comfyui: { backends: [{ url: fake.url, name: 'fake' }], pollIntervalMs: 1000 },
          playground: false,
          // A claim outlives no killed instance for long: the next one may send after 1 s (PostgreSQL; nedb claims die with the process).
          webhooks: { allowPrivateAddresses: true, pollMs: 50, claimMs: 1000, timeoutMs: 60_000, firstRetryMs: 100 },
        },
      };
      // JSON is YAML.
      await writeFile(configFile, JSON.stringify(config));
    });

    afterEach(async () => {
      await killAll(running.splice(0));
      await receiver.stop();
      await fake.stop();
      await database?.drop();
      database = undefined;
      await rm(dir, { recursive: true, force: true });
    });

    async function start(): Promise<Served> {
      const served = await serve(configFile, secret);
      running.push(served);
      await until(async () => (await fetch(`${served.url}/ready`).catch(() => undefined))?.status === 200, 'the bridge to be ready', 15_000);
      return served;
    }

    async function generate(url: string, clientId: string): Promise<string> {
      const res = await fetch(`${url}/generate-based-workflow?clientId=${clientId}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ workflow: 'text-to-image', '5/width': 64, '5/height': 64, '3/steps': 2, webhook: { url: `${receiver.url}/in` } }),
      });
      const body = (await res.json()) as { id: string };
      expect(res.status, JSON.stringify(body)).to.equal(200);
      return body.id;
    }

    it('a delivery in flight when the bridge dies is sent by the next bridge, with the same id and body', async () => {
      // The first attempt never gets an answer: the bridge dies while it waits.
      receiver.replies = ['hang', 200];
      const first = await start();
      const id = await generate(first.url, 'restart-in-flight');
      await until(() => receiver.received.length >= 1, 'the first attempt', 20_000);
      await sigkill(first);

      const second = await start();
      await until(() => receiver.received.length >= 2, 'the attempt of the next bridge', 20_000);
      const [cut, sent] = receiver.received;
      expect(sent!.id).to.equal(cut!.id);
      // The same bytes but for the base of the result URLs: each process names itself (no server.publicUrl here,
      // and port 0), and the next one only sends once it listens, so its URLs name its real port.
      const urls = (r: typeof cut) => r!.json.data.result_urls as string[];
      expect(urls(cut)[0]).to.match(new RegExp(`^${first.url}/results/${id}/`));
      expect(urls(sent)[0]).to.match(new RegExp(`^${second.url}/results/${id}/`));
      expect(sent!.body.replaceAll(second.url, first.url)).to.equal(cut!.body);
      expect(sent!.verified, sent!.refusal).to.equal(true);
      expect(sent!.json).to.deep.include({ type: 'generation.completed' });
      expect(sent!.json.data).to.include({ id, status: 'completed' });
      await until(async () => (await deliveredCount(second.url)) === 1, 'the next bridge to count it delivered');
      expect(receiver.received).to.have.length(2);
    });

    it('a generation running when the bridge dies is finished by the next bridge, which sends its webhook', async () => {
      fake.setNodeDuration('KSampler', 1500);
      const first = await start();
      const id = await generate(first.url, 'restart-running');
      await until(async () => (await state(first.url, id)) === 'running', 'the generation to run', 10_000);
      await sigkill(first);
      expect(receiver.received).to.have.length(0);

      const second = await start();
      await until(() => receiver.received.length >= 1, 'the webhook from the next bridge', 30_000);
      const [got] = receiver.received;
      expect(got!.verified, got!.refusal).to.equal(true);
      expect(got!.json.type).to.equal('generation.completed');
      expect(got!.json.data).to.include({ id, status: 'completed' });
      expect((got!.json.data.result_urls as string[])[0]).to.match(new RegExp(`^${second.url}/results/${id}/`));
      await until(async () => (await deliveredCount(second.url)) === 1, 'the next bridge to count it delivered');
      expect(receiver.received).to.have.length(1);
    });
  });
}
