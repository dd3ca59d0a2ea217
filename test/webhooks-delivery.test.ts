import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import type { Resolver } from '../lib/outbound.js';
import { deliveryId } from '../contracts/outbox.js';
import type { Storage } from '../contracts/storage.js';
import type { GenerationService } from '../plugins/generations/api.js';
import { definePlugin, type PluginManifest } from '../core/plugin.js';
import { startStack, type Answer, type Stack } from './e2e-support.js';
import { grabbing, providing } from './helpers/fixture-plugins.js';
import { until } from './helpers/until.js';
import { newSecret, WebhookReceiver } from './helpers/webhook-receiver.js';

/** Generous: the machine running the suite may be loaded; a condition met earlier ends the wait at once. */
const waitFor = <T>(probe: () => Promise<T | undefined | false> | T | undefined | false, what: string) => until(probe, what, 15_000);

/** Webhooks end to end: the fake ComfyUI runs the generation, a real HTTP receiver verifies what the bridge sends. */
describe('webhooks: signed deliveries of generation events', function () {
  this.timeout(30_000);
  const secret = newSecret();
  let receiver: WebhookReceiver;
  let stack: Stack | undefined;
  const grabbed: { storage?: Storage; generations?: GenerationService } = {};
  /** Names the tests use, and what they resolve to; `flip.test` changes its answer once its generation is recorded. */
  const dns: Record<string, string> = { 'hooks.test': '127.0.0.1', 'inside.test': '10.0.0.1', 'flip.test': '203.0.113.7' };
  const resolver: Resolver = async (hostname) => {
    const address = dns[hostname];
    if (!address) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return [{ address, family: 4 }];
  };
  /** Points flip.test at a private address as soon as a generation is recorded (after the submit-time check). */
  const flipper: PluginManifest<never> = definePlugin({
    name: 'dns-flipper',
    dependencies: ['generations'],
    register(ctx) {
      ctx.use('generations').hooks.created.tap('dns-flipper', () => {
        dns['flip.test'] = '10.1.2.3';
      });
    },
  }) as PluginManifest<never>;

  beforeEach(async () => {
    receiver = await new WebhookReceiver(secret).start();
    dns['flip.test'] = '203.0.113.7';
  });

  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
    await receiver.stop();
  });

  async function start(webhooks: Record<string, unknown>, plugins: Record<string, Record<string, unknown>> = {}): Promise<Stack> {
    stack = await startStack({
      plugins: { webhooks: { secret, firstRetryMs: 50, maxRetryMs: 200, pollMs: 20, ...webhooks }, metrics: {}, ...plugins },
      extraPlugins: [providing('test-dns', { resolver }), flipper, grabbing('webhooks-grab', ['storage', 'generations'], grabbed)],
    });
    return stack;
  }

  async function generate(body: Record<string, unknown>, headers: Record<string, string> = {}, clientId = 'hooked'): Promise<Answer> {
    const response = await fetch(`${stack!.bridge.url}/generate-based-workflow?clientId=${clientId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown>, headers: response.headers };
  }

  async function metric(outcome: string): Promise<number> {
    const text = await (await fetch(`${stack!.bridge.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`comfy_bridge_webhook_deliveries_total{outcome="${outcome}"}`));
    return line ? Number(line.split(' ').pop()) : 0;
  }

  it('POSTs the end of a generation, signed so the standardwebhooks reference verifier accepts it', async () => {
    await start({ allowPrivateAddresses: true });
    const answer = await generate({ workflow: 'invert', webhook: { url: `${receiver.url}/in` } });
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    const id = answer.body.id as string;
    await waitFor(() => receiver.received.length >= 1, 'the delivery');
    const [got] = receiver.received;
    expect(got!.verified, got!.refusal).to.equal(true);
    const gen = (await grabbed.storage!.generations.get(id))!;
    expect(got!.id).to.equal(deliveryId(id, 'completed', gen.attempts));
    expect(got!.json.type).to.equal('generation.completed');
    expect(got!.json.timestamp).to.equal(gen.updatedAt);
    expect(got!.json.data).to.include({ id, clientId: 'hooked', workflow: 'invert', status: 'completed', error: null });
    expect(got!.json.data.result_urls).to.be.an('array').with.length(1);
    expect((got!.json.data.result_urls as string[])[0]).to.match(new RegExp(`/results/${id}/`));
    // The signature is the Standard Webhooks one, computed independently here too.
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
    const expected = createHmac('sha256', key).update(`${got!.id}.${got!.timestamp}.${got!.body}`).digest('base64');
    expect(got!.signature).to.equal(`v1,${expected}`);
    expect(Math.abs(Number(got!.timestamp) - Date.now() / 1000)).to.be.lessThan(300);
    // A verifier with another secret refuses it.
    const forged = new WebhookReceiver(newSecret());
    await forged.start();
    try {
      await fetch(`${forged.url}/`, { method: 'POST', headers: { 'webhook-id': got!.id, 'webhook-timestamp': got!.timestamp, 'webhook-signature': got!.signature }, body: got!.body });
      expect(forged.received[0]!.verified).to.equal(false);
    } finally {
      await forged.stop();
    }
    await waitFor(async () => (await grabbed.storage!.outbox.get(got!.id))?.state === 'delivered', 'the delivery to be recorded delivered');
    expect(await metric('delivered')).to.equal(1);
    expect(receiver.received).to.have.length(1);
  });

  it('retries after a 500 with the same delivery id and body, then records it delivered', async () => {
    await start({ allowPrivateAddresses: true });
    receiver.replies = [500, 500, 200];
    const answer = await generate({ workflow: 'invert', webhook: { url: `${receiver.url}/in` } });
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    await waitFor(() => receiver.received.length >= 3, 'three attempts');
    const ids = new Set(receiver.received.map((r) => r.id));
    expect(ids.size).to.equal(1);
    expect(new Set(receiver.received.map((r) => r.body)).size).to.equal(1);
    expect(receiver.received.every((r) => r.verified)).to.equal(true);
    const id = [...ids][0]!;
    await waitFor(async () => (await grabbed.storage!.outbox.get(id))?.state === 'delivered', 'delivered');
    expect(await grabbed.storage!.outbox.get(id)).to.include({ attempts: 3, lastError: 'HTTP 500' });
    expect(await metric('retried')).to.equal(2);
    expect(await metric('delivered')).to.equal(1);
    expect(await metric('failed')).to.equal(0);
  });

  it('sends the events asked for (running, failed), each with its own stable id', async () => {
    await start({ allowPrivateAddresses: true });
    const answer = await generate({ workflow: 'failing', webhook: { url: `${receiver.url}/in`, events: ['generation.running', 'generation.failed'] } });
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    const id = answer.body.id as string;
    await waitFor(() => receiver.received.length >= 2, 'two deliveries');
    const types = receiver.received.map((r) => r.json.type).sort();
    expect(types).to.deep.equal(['generation.failed', 'generation.running']);
    const failed = receiver.received.find((r) => r.json.type === 'generation.failed')!;
    expect(failed.json.data).to.include({ id, status: 'failed' });
    expect(failed.json.data.error).to.match(/GPU caught fire/);
    expect(new Set(receiver.received.map((r) => r.id)).size).to.equal(2);
    expect(receiver.received.every((r) => r.verified)).to.equal(true);
  });

  it('an Idempotency-Key replay subscribes nothing new: one generation, one delivery', async () => {
    await start({ allowPrivateAddresses: true });
    const body = { workflow: 'invert', webhook: { url: `${receiver.url}/in` } };
    const first = await generate(body, { 'idempotency-key': 'hook-once' });
    const again = await generate(body, { 'idempotency-key': 'hook-once' });
    expect(again.headers.get('idempotent-replayed')).to.equal('true');
    expect(again.body.id).to.equal(first.body.id);
    const other = await generate({ ...body, webhook: { url: `${receiver.url}/elsewhere` } }, { 'idempotency-key': 'hook-once' });
    expect(other.status).to.equal(422);
    await waitFor(async () => (await grabbed.storage!.outbox.forGeneration(first.body.id as string))[0]?.state === 'delivered', 'the delivery');
    expect(receiver.received).to.have.length(1);
    expect((await grabbed.storage!.generations.counts()).total).to.equal(1);
  });

  it('gives up after the time allowed, and counts it', async () => {
    await start({ allowPrivateAddresses: true, giveUpAfterMs: 300 });
    receiver.replies = [503];
    const answer = await generate({ workflow: 'invert', webhook: { url: `${receiver.url}/in` } });
    const id = answer.body.id as string;
    await waitFor(async () => (await grabbed.storage!.outbox.forGeneration(id))[0]?.state === 'failed', 'the delivery to be given up');
    const [delivery] = await grabbed.storage!.outbox.forGeneration(id);
    expect(delivery!.lastError).to.match(/^gave up after \d+ attempts: HTTP 503$/);
    expect(receiver.received.length).to.equal(delivery!.attempts);
    expect(await metric('failed')).to.equal(1);
    expect(await metric('retried')).to.equal(delivery!.attempts - 1);
  });

  for (const [target, why] of [
    ['http://127.0.0.1:9/in', /loopback/],
    ['http://169.254.169.254/latest/meta-data/', /link-local/],
    ['http://10.0.0.1/in', /private/],
    ['http://inside.test/in', /inside\.test resolves to 10\.0\.0\.1, which is private/],
    ['http://nowhere.test/in', /does not resolve/],
    ['ftp://hooks.example/in', /only http and https/],
  ] as const) {
    it(`refuses ${target} at submit with 400 and records nothing`, async () => {
      await start({});
      const answer = await generate({ workflow: 'invert', webhook: { url: target } });
      expect(answer.status).to.equal(400);
      expect(answer.body.error).to.equal('bad_request');
      expect(answer.body.detail).to.match(/^webhook\.url is refused: /).and.match(why);
      expect((await grabbed.storage!.generations.counts()).total).to.equal(0);
      expect(stack!.fake.prompts).to.have.length(0);
    });
  }

  it('refuses a host that is not on the allow-list, and a malformed webhook field', async () => {
    await start({ allowHosts: ['hooks.example.com'] });
    const refused = await generate({ workflow: 'invert', webhook: { url: 'https://elsewhere.example.org/in' } });
    expect(refused.status).to.equal(400);
    expect(refused.body.detail).to.match(/elsewhere\.example\.org is not on the allow-list/);
    const malformed = await generate({ workflow: 'invert', webhook: { url: 'https://hooks.example.com/in', events: ['generation.exploded'] } });
    expect(malformed.status).to.equal(400);
    expect(malformed.body.detail).to.match(/webhook/);
    expect((await grabbed.storage!.generations.counts()).total).to.equal(0);
  });

  it('a host whose DNS answer turns private after the submit is refused when sent, and given up at once', async () => {
    await start({});
    const answer = await generate({ workflow: 'invert', webhook: { url: 'http://flip.test/in' } });
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    const id = answer.body.id as string;
    await waitFor(async () => (await grabbed.storage!.outbox.forGeneration(id))[0]?.state === 'failed', 'the delivery to be refused');
    const [delivery] = await grabbed.storage!.outbox.forGeneration(id);
    expect(delivery!.attempts).to.equal(1);
    expect(delivery!.lastError).to.match(/flip\.test resolves to 10\.1\.2\.3, which is private/);
    expect(receiver.received).to.have.length(0);
  });

  it('without a signing secret a webhook is refused with 400; without the plugin too', async () => {
    await start({ secret: null, allowPrivateAddresses: true });
    const noSecret = await generate({ workflow: 'invert', webhook: { url: `${receiver.url}/in` } });
    expect(noSecret.status).to.equal(400);
    expect(noSecret.body.detail).to.match(/signing secret/);
    await stack!.stop();
    stack = await startStack({ extraPlugins: [grabbing('webhooks-grab', ['storage', 'generations'], grabbed)] });
    const noPlugin = await generate({ workflow: 'invert', webhook: { url: `${receiver.url}/in` } });
    expect(noPlugin.status).to.equal(400);
    expect(noPlugin.body.detail).to.match(/webhooks are not enabled/);
    expect((await grabbed.storage!.generations.counts()).total).to.equal(0);
  });

  it('with auth on: a key\'s default webhook is used, signed with that key\'s own secret; a key without a secret is refused', async () => {
    const keySecret = newSecret();
    const keyReceiver = await new WebhookReceiver(keySecret).start();
    try {
      await start(
        { secret: null, allowPrivateAddresses: true },
        {
          auth: {
            keys: [
              { id: 'hooked-app', key: 'hooked-app-key-0123456789', webhook: { secret: keySecret, url: `${keyReceiver.url}/default` } },
              { id: 'plain-app', key: 'plain-app-key-0123456789' },
            ],
          },
        },
      );
      const answer = await generate({ workflow: 'invert' }, { authorization: 'Bearer hooked-app-key-0123456789' });
      expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
      await waitFor(() => keyReceiver.received.length >= 1, 'the default webhook');
      expect(keyReceiver.received[0]!.verified, keyReceiver.received[0]!.refusal).to.equal(true);
      expect(keyReceiver.received[0]!.json.data.id).to.equal(answer.body.id);

      const plain = await generate({ workflow: 'invert', webhook: { url: `${receiver.url}/in` } }, { authorization: 'Bearer plain-app-key-0123456789' }, 'plain');
      expect(plain.status).to.equal(400);
      expect(plain.body.detail).to.match(/signing secret for key "plain-app"/);
    } finally {
      await keyReceiver.stop();
    }
  });
});
