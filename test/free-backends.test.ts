import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import type { GenerationService } from '../plugins/generations/api.js';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import type { RunningBridge } from './helpers/bridge.js';
import { startComfyBridge, type ComfyBridge } from './helpers/comfy-bridge.js';
import { until } from './helpers/until.js';

const IMAGE_GRAPH = {
  '1': { inputs: { width: 8, height: 8, batch_size: 1, color: 0 }, class_type: 'EmptyImage', _meta: { title: 'Empty Image', apiinput: 'color' } },
  '2': { inputs: { filename_prefix: 'free', images: ['1', 0] }, class_type: 'SaveImage', _meta: { title: 'Save Image' } },
};

interface FreeAnswer {
  detail: string;
  backends: { name: string; url: string; ok: boolean }[];
  error?: string;
}

/**
 * Runs IMAGE_GRAPH straight on a fake (not through the bridge) and answers the nodes ComfyUI took
 * from its cache. POST /free with free_memory empties that cache, so this shows whether a backend
 * received it.
 */
async function cachedNodesOfARun(fake: FakeComfy): Promise<string[]> {
  const promptId = randomUUID();
  const response = await fetch(`${fake.url}/prompt`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: IMAGE_GRAPH, client_id: 'free-test-probe', prompt_id: promptId }),
  });
  expect(response.status).to.equal(200);
  await fake.waitForIdle();
  const history = (await (await fetch(`${fake.url}/history/${promptId}`)).json()) as Record<
    string,
    { status: { messages: [string, { nodes?: string[] }][] } }
  >;
  const cached = history[promptId]!.status.messages.find(([type]) => type === 'execution_cached');
  return cached?.[1].nodes ?? [];
}

describe('free: against two fake ComfyUIs', () => {
  let fakes: FakeComfy[];
  let stack: ComfyBridge;
  let bridge: RunningBridge;
  let generations: GenerationService;

  beforeEach(async () => {
    fakes = [await startFakeComfy(), await startFakeComfy()];
    stack = await startComfyBridge({ fakes, workflows: { image: IMAGE_GRAPH }, plugins: { free: {} } });
    ({ bridge, generations } = stack);
    // Warm both caches: the second identical run is served from the cache.
    for (const fake of fakes) {
      await cachedNodesOfARun(fake);
      expect(await cachedNodesOfARun(fake)).to.include('1');
    }
  });

  afterEach(() => stack.close());

  const free = async (query = ''): Promise<{ status: number; body: FreeAnswer }> => {
    const response = await fetch(`${bridge.url}/free${query}`, { method: 'POST' });
    return { status: response.status, body: (await response.json()) as FreeAnswer };
  };

  it('frees every backend without a clientId', async () => {
    const answer = await free();
    expect(answer.status).to.equal(200);
    expect(answer.body).to.deep.equal({
      detail: 'server memory free now / ALL',
      backends: [
        { name: 'one', url: fakes[0]!.url, ok: true },
        { name: 'two', url: fakes[1]!.url, ok: true },
      ],
    });
    for (const fake of fakes) expect(await cachedNodesOfARun(fake)).to.deep.equal([]);
  });

  it("frees only the backend of the client's latest generation", async () => {
    const response = await fetch(`${bridge.url}/generate-based-workflow?clientId=tab-1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workflow: 'image', '1/color': 4242 }),
    });
    expect(response.status).to.equal(200);
    const { id } = (await response.json()) as { id: string };
    const gen = await generations.waitForEnd(id, 10_000);
    expect(gen?.state).to.equal('completed');
    const used = gen!.backend === 'one' ? 0 : 1;
    const other = 1 - used;
    await until(() => Promise.all(fakes.map((fake) => fake.waitForIdle())).then(() => true), 'both fakes idle', 10_000);

    const answer = await free('?clientId=tab-1');
    expect(answer.status).to.equal(200);
    expect(answer.body).to.deep.equal({
      detail: `server memory free now / ${gen!.backend}`,
      backends: [{ name: gen!.backend, url: fakes[used]!.url, ok: true }],
    });
    expect(await cachedNodesOfARun(fakes[used]!)).to.deep.equal([]);
    expect(await cachedNodesOfARun(fakes[other]!)).to.include('1');
  });

  it('answers 404 for a clientId without generations and 400 for a malformed one, freeing nothing', async () => {
    const unknown = await free('?clientId=nobody');
    expect(unknown.status).to.equal(404);
    expect(unknown.body.error).to.equal('not_found');
    expect((await free('?clientId=no%20spaces')).status).to.equal(400);
    for (const fake of fakes) expect(await cachedNodesOfARun(fake)).to.include('1');
  });

  it('reports a backend that is down as not ok, and answers 503 when none took the request', async () => {
    await fakes[1]!.stop();
    const partial = await free();
    expect(partial.status).to.equal(200);
    expect(partial.body.backends.map((b) => [b.name, b.ok])).to.deep.equal([
      ['one', true],
      ['two', false],
    ]);
    await fakes[0]!.stop();
    const none = await free();
    expect(none.status).to.equal(503);
    expect(none.body.error).to.equal('backend_unavailable');
    expect(none.body.backends.every((b) => !b.ok)).to.equal(true);
  });
});
