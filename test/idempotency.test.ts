import { expect } from 'chai';
import { requestFingerprint } from '../contracts/idempotency.js';
import type { Storage } from '../contracts/storage.js';
import type { GenerationService } from '../plugins/generations/api.js';
import { startStack, type Answer, type Stack } from './e2e-support.js';
import { grabbing } from './helpers/fixture-plugins.js';
import { makePng } from './upload-images.js';
import { until } from './helpers/until.js';

/** Idempotency-Key on POST /generate-based-workflow and POST /upload, against the fake ComfyUI. */
describe('Idempotency-Key (generate and upload, fake ComfyUI)', function () {
  this.timeout(30000);
  let stack: Stack | undefined;
  let grabbed: { storage?: Storage; generations?: GenerationService };

  beforeEach(async () => {
    grabbed = {};
    stack = await startStack({ extraPlugins: [grabbing('idempotency-grab', ['storage', 'generations'], grabbed)] });
  });

  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  async function generate(clientId: string, body: Record<string, unknown>, key?: string): Promise<Answer> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (key !== undefined) headers['idempotency-key'] = key;
    const response = await fetch(`${stack!.bridge.url}/generate-based-workflow?clientId=${clientId}`, { method: 'POST', headers, body: JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as Record<string, unknown>, headers: response.headers };
  }

  async function upload(clientId: string, files: Record<string, Buffer>, key?: string): Promise<Answer> {
    const form = new FormData();
    for (const [field, bytes] of Object.entries(files)) form.append(field, new Blob([bytes], { type: 'image/png' }), `${field}.png`);
    const response = await fetch(`${stack!.bridge.url}/upload?clientId=${clientId}`, { method: 'POST', body: form, headers: key === undefined ? {} : { 'idempotency-key': key } });
    return { status: response.status, body: (await response.json()) as Record<string, unknown>, headers: response.headers };
  }

  const submitted = () => stack!.fake.prompts.length;

  it('100 parallel identical submits with one key: one prompt at ComfyUI, every answer the same id', async () => {
    const body = { workflow: 'sleepy', '1/color': 7 };
    const answers = await Promise.all(Array.from({ length: 100 }, () => generate('idem-1', body, 'key-100')));
    for (const answer of answers) expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    const ids = new Set(answers.map((a) => a.body.id));
    expect(ids.size).to.equal(1);
    expect(answers.filter((a) => a.headers.get('idempotent-replayed') === 'true')).to.have.length(99);
    const [id] = [...ids] as string[];
    await until(async () => (await grabbed.generations!.get(id!))?.state === 'completed', 'the generation to complete', 10000);
    expect(submitted()).to.equal(1);
    expect(stack!.fake.prompts[0]!.promptId).to.equal((await grabbed.generations!.get(id!))!.promptId);
  });

  it('the same key and body later: the first answer (same id), nothing submitted again', async () => {
    const body = { workflow: 'sleepy', '1/color': 9 };
    const first = await generate('idem-2', body, 'k-later');
    expect(first.status).to.equal(200);
    await until(async () => (await grabbed.generations!.get(first.body.id as string))?.state === 'completed', 'the generation to complete', 10000);
    // Keys in another order are the same request.
    const again = await generate('idem-2', { '1/color': 9, workflow: 'sleepy' }, 'k-later');
    expect(again.status).to.equal(200);
    expect(again.body).to.deep.equal(first.body);
    expect(again.headers.get('idempotent-replayed')).to.equal('true');
    expect(first.headers.get('idempotent-replayed')).to.equal(null);
    expect(submitted()).to.equal(1);
  });

  it('the same key with another body: 422, and nothing submitted', async () => {
    const first = await generate('idem-3', { workflow: 'sleepy', '1/color': 1 }, 'k-other');
    expect(first.status).to.equal(200);
    const other = await generate('idem-3', { workflow: 'sleepy', '1/color': 2 }, 'k-other');
    expect(other.status).to.equal(422);
    expect(other.body.error).to.equal('idempotency_key_reused');
    expect(other.body.detail).to.match(/k-other/);
    // The wait flag is part of the request too.
    const waiting = await generate('idem-3', { workflow: 'sleepy', '1/color': 1, wait: true }, 'k-other');
    expect(waiting.status).to.equal(422);
    await until(async () => (await grabbed.generations!.get(first.body.id as string))?.state === 'completed', 'the generation to complete', 10000);
    expect(submitted()).to.equal(1);
  });

  it('keys are scoped: the same key from another clientId (auth off) is a new request', async () => {
    const body = { workflow: 'sleepy' };
    const a = await generate('idem-4a', body, 'shared-key');
    const b = await generate('idem-4b', body, 'shared-key');
    expect(a.status).to.equal(200);
    expect(b.status).to.equal(200);
    expect(a.body.id).to.not.equal(b.body.id);
    await until(() => submitted() === 2, 'both prompts', 10000);
  });

  it('a malformed key is refused before anything runs', async () => {
    const answer = await generate('idem-5', { workflow: 'sleepy' }, 'has space');
    expect(answer.status).to.equal(400);
    expect(answer.body.detail).to.match(/Idempotency-Key/);
    expect(await grabbed.generations!.latestForClient('idem-5')).to.equal(undefined);
  });

  it('a request that failed forgets its key: the key may be used again', async () => {
    // ComfyUI refuses this graph: 400, and the key is released.
    const refused = await generate('idem-6', { workflow: 'rejected' }, 'k-fail');
    expect(refused.status, JSON.stringify(refused.body)).to.equal(400);
    expect(await grabbed.storage!.idempotency.get('client:idem-6', 'k-fail')).to.equal(undefined);
    const next = await generate('idem-6', { workflow: 'sleepy' }, 'k-fail');
    expect(next.status, JSON.stringify(next.body)).to.equal(200);
  });

  it('a request cut after its claim but before its generation was recorded: the retry makes it, under the claimed id', async () => {
    const body = { workflow: 'sleepy' };
    const id = 'gen_cutBeforeRecordXXXXXXXXX';
    // What a crash leaves: a claim over a minute old, no answer, no generation.
    await grabbed.storage!.idempotency.claim(
      {
        scope: 'client:idem-7',
        key: 'k-cut',
        fingerprint: requestFingerprint({ route: 'generate', workflow: 'sleepy', clientId: 'idem-7', wait: false, values: {} }),
        ref: id,
        createdAt: new Date(Date.now() - 5 * 60 * 1000).toISOString(),
        answer: null,
      },
      new Date(Date.now() - 24 * 60 * 60 * 1000).toISOString(),
    );
    const retry = await generate('idem-7', body, 'k-cut');
    expect(retry.status, JSON.stringify(retry.body)).to.equal(200);
    expect(retry.body.id).to.equal(id);
    await until(() => submitted() === 1, 'the prompt', 10000);
    expect((await grabbed.storage!.idempotency.get('client:idem-7', 'k-cut'))?.answer?.body).to.deep.equal(retry.body);
  });

  it('a request cut after its generation was recorded: the retry answers that generation and submits nothing', async () => {
    const made = await generate('idem-8', { workflow: 'sleepy' });
    expect(made.status).to.equal(200);
    await until(() => submitted() === 1, 'the prompt', 10000);
    await grabbed.storage!.idempotency.claim(
      {
        scope: 'client:idem-8',
        key: 'k-cut2',
        fingerprint: requestFingerprint({ route: 'generate', workflow: 'sleepy', clientId: 'idem-8', wait: false, values: {} }),
        ref: made.body.id as string,
        createdAt: new Date().toISOString(),
        answer: null,
      },
      new Date(Date.now() - 24 * 60 * 60 * 1000).toISOString(),
    );
    const retry = await generate('idem-8', { workflow: 'sleepy' }, 'k-cut2');
    expect(retry.status).to.equal(200);
    expect(retry.body.id).to.equal(made.body.id);
    expect(retry.headers.get('idempotent-replayed')).to.equal('true');
    expect(submitted()).to.equal(1);
  });

  it('upload: the same key and files answer the same stored names; other files → 422; nothing stored twice', async () => {
    const png = makePng(5, 4);
    const parallel = await Promise.all(Array.from({ length: 10 }, () => upload('idem-up', { upload_0: png }, 'up-1')));
    for (const answer of parallel) expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    expect(new Set(parallel.map((a) => a.body.upload_0)).size).to.equal(1);
    const stored = parallel[0]!.body.upload_0 as string;
    expect(await grabbed.storage!.uploads.get(stored)).to.not.equal(undefined);

    const other = await upload('idem-up', { upload_0: makePng(6, 4) }, 'up-1');
    expect(other.status).to.equal(422);
    const renamed = await upload('idem-up', { upload_1: png }, 'up-1');
    expect(renamed.status).to.equal(422);
    // Without a key, the same file is stored again under a new name.
    const plain = await upload('idem-up', { upload_0: png });
    expect(plain.status).to.equal(200);
    expect(plain.body.upload_0).to.not.equal(stored);
  });
});
