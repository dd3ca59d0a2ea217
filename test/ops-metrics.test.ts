import { expect } from 'chai';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { sleepGraph, startComfyBridge, type ComfyBridge } from './helpers/comfy-bridge.js';
import { until } from './helpers/until.js';
import { newSecret, WebhookReceiver } from './helpers/webhook-receiver.js';
import { startStack, type Stack } from './e2e-support.js';

const SLEEP_GRAPH = sleepGraph('ops');

const KEY_A = 'opsA-Hj3kL8mN2pQ5rS9tV4';
const KEY_B = 'opsB-Wx7yZ1aB4cD8eF2gH6';

/** The value of one sample line of /metrics (`name{labels}` exactly), or undefined when it is absent. */
async function sample(url: string, series: string): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** The operations metrics move when what they count happens (real bridge, fake ComfyUI). */
describe('metrics of the bridge queue, quotas and the webhook outbox', function () {
  this.timeout(60_000);

  describe('with fair share and quotas', () => {
    let fake: FakeComfy;
    let stack: ComfyBridge;
    let url: string;
    let color = 0;

    beforeEach(async () => {
      fake = await startFakeComfy();
      stack = await startComfyBridge({
        fakes: [fake],
        workflows: { sleep: SLEEP_GRAPH },
        plugins: {
          auth: { keys: [{ id: 'tenant-a', key: KEY_A }, { id: 'tenant-b', key: KEY_B }] },
          generate: { maxActivePerClient: 1000, quotas: { default: {}, keys: { 'tenant-b': { maxActive: 1, perMinute: 2 } } } },
          generations: { fairShare: { maxPromptsPerBackend: 1 } },
          interrupt: {},
          metrics: {},
        },
      });
      url = stack.bridge.url;
    });
    afterEach(() => stack.close());

    const generate = async (key: string) => {
      const response = await fetch(`${url}/generate-based-workflow?clientId=${key === KEY_A ? 'ops-a' : 'ops-b'}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ workflow: 'sleep', '1/color': ++color }),
      });
      return { status: response.status, body: (await response.json()) as { id: string; error?: string; limit?: string } };
    };
    const interrupt = async (id: string, key = KEY_A) => {
      const response = await fetch(`${url}/interrupt?id=${id}`, { method: 'POST', headers: { authorization: `Bearer ${key}` } });
      expect(response.status).to.equal(200);
    };

    it('comfy_bridge_generations_held follows the generations held in the bridge queue', async () => {
      fake.setNodeDuration('TestSleep', 30_000);
      expect(await sample(url, 'comfy_bridge_generations_held')).to.equal(0);
      const first = await generate(KEY_A);
      expect(first.status).to.equal(200);
      await until(() => fake.prompts.some((p) => p.accepted), 'the first prompt to reach ComfyUI', 10_000);
      expect(await sample(url, 'comfy_bridge_generations_held')).to.equal(0);
      const held = [await generate(KEY_A), await generate(KEY_A), await generate(KEY_A)];
      for (const answer of held) expect(answer.status).to.equal(200);
      expect(await sample(url, 'comfy_bridge_generations_held')).to.equal(3);
      // One interrupted while held leaves the queue at once.
      await interrupt(held[2]!.body.id);
      expect(await sample(url, 'comfy_bridge_generations_held')).to.equal(2);
      // The running one stops: the rest are released and run.
      fake.setNodeDuration('TestSleep', 5);
      await interrupt(first.body.id);
      for (const answer of held.slice(0, 2)) expect((await stack.generations.waitForEnd(answer.body.id, 20_000))?.state).to.equal('completed');
      expect(await sample(url, 'comfy_bridge_generations_held')).to.equal(0);
    });

    it('comfy_bridge_quota_refusals_total counts 429 quota_exceeded by the limit hit', async () => {
      const refusals = (limit: string) => sample(url, `comfy_bridge_quota_refusals_total{limit="${limit}"}`);
      expect(await refusals('maxActive')).to.equal(0);
      expect(await refusals('perMinute')).to.equal(0);
      fake.setNodeDuration('TestSleep', 30_000);
      const first = await generate(KEY_B);
      expect(first.status).to.equal(200);
      // Still active: maxActive 1 refuses the next.
      const second = await generate(KEY_B);
      expect(second.status).to.equal(429);
      expect(second.body).to.include({ error: 'quota_exceeded', limit: 'maxActive' });
      expect(await refusals('maxActive')).to.equal(1);
      expect(await refusals('perMinute')).to.equal(0);
      // Ended: the active one is free, but the minute has seen 2 already after one more.
      fake.setNodeDuration('TestSleep', 5);
      await interrupt(first.body.id, KEY_B);
      await until(async () => (await stack.generations.get(first.body.id))?.state === 'interrupted', 'the first to end', 10_000);
      const third = await generate(KEY_B);
      expect(third.status).to.equal(200);
      await stack.generations.waitForEnd(third.body.id, 20_000);
      const fourth = await generate(KEY_B);
      expect(fourth.status).to.equal(429);
      expect(fourth.body).to.include({ error: 'quota_exceeded', limit: 'perMinute' });
      expect(await refusals('perMinute')).to.equal(1);
      expect(await refusals('maxActive')).to.equal(1);
      expect(await refusals('perDay')).to.equal(0);
      // Key A has no quota: never refused, never counted.
      expect((await generate(KEY_A)).status).to.equal(200);
      expect(await refusals('maxActive')).to.equal(1);
    });
  });

  describe('with webhooks', () => {
    const secret = newSecret();
    let receiver: WebhookReceiver;
    let stack: Stack;

    beforeEach(async () => {
      receiver = await new WebhookReceiver(secret).start();
      stack = await startStack({ plugins: { webhooks: { secret, firstRetryMs: 50, maxRetryMs: 100, pollMs: 20, allowPrivateAddresses: true }, metrics: {} } });
    });
    afterEach(async () => {
      await stack.stop();
      await receiver.stop();
    });

    it('comfy_bridge_webhook_deliveries_pending shows the outbox backlog while a receiver fails, and 0 once delivered', async () => {
      const url = stack.bridge.url;
      expect(await sample(url, 'comfy_bridge_webhook_deliveries_pending')).to.equal(0);
      receiver.replies = [500];
      const response = await fetch(`${url}/generate-based-workflow?clientId=hooked`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ workflow: 'invert', webhook: { url: `${receiver.url}/in` } }),
      });
      expect(response.status).to.equal(200);
      await until(() => receiver.received.length >= 2, 'a retried delivery', 15_000);
      expect(await sample(url, 'comfy_bridge_webhook_deliveries_pending')).to.equal(1);
      receiver.replies = [200];
      await until(async () => (await sample(url, 'comfy_bridge_webhook_deliveries_pending')) === 0, 'the backlog to drain', 15_000);
      expect(receiver.received.at(-1)!.verified).to.equal(true);
    });
  });
});
