import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Graph } from '../contracts/graph.js';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { checkpointGraph as paint } from './helpers/checkpoint-graph.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { until } from './helpers/until.js';

const INVERT = {
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
  '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
  '3': { class_type: 'SaveImage', inputs: { filename_prefix: 'inv', images: ['2', 0] } },
} as unknown as Graph;

interface Setup {
  bridge: RunningBridge;
  fakes: FakeComfy[];
  close(): Promise<void>;
}

async function setup(fakes: FakeComfy[], workflows: Record<string, Graph>, comfyui: Record<string, unknown> = {}): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'caps-workflows-'));
  for (const [alias, graph] of Object.entries(workflows)) await writeFile(join(dir, `${alias}.json`), JSON.stringify(graph));
  const bridge = await startBridge({
    plugins: {
      'storage-nedb': { inMemory: true },
      bus: {},
      comfyui: {
        backends: fakes.map((fake, i) => ({ url: fake.url, name: ['one', 'two'][i]! })),
        reconnect: { initialMs: 20, maxMs: 100, jitter: 0 },
        capabilitiesRefreshMs: 100,
        capabilitiesMinGapMs: 0,
        ...comfyui,
      },
      workflows: { dir, watch: false },
      generations: {},
      results: {},
      generate: {},
      util: {},
    },
  });
  const close = async () => {
    await bridge.close();
    for (const fake of fakes) await fake.stop();
    await rm(dir, { recursive: true, force: true });
  };
  await until(() => fakes.every((fake) => fake.clientCount > 0), 'the backends to connect', 10_000);
  return { bridge, fakes, close };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies of several routes, checked field by field
type Body = any;

async function json(bridge: RunningBridge, path: string, body?: unknown): Promise<{ status: number; body: Body }> {
  const res = await fetch(`${bridge.url}${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

const listed = async (bridge: RunningBridge): Promise<Record<string, { available?: boolean; missing?: Record<string, string[]> }>> =>
  Object.fromEntries(((await json(bridge, '/workflow-list')).body as { alias: string; available?: boolean; missing?: Record<string, string[]> }[]).map((w) => [w.alias, w]));

/** The ckpt_name of every prompt a fake received. */
const ckpts = (fake: FakeComfy) => fake.prompts.filter((p) => p.accepted).map((p) => (p.graph['4'] as { inputs?: { ckpt_name?: string } } | undefined)?.inputs?.ckpt_name ?? 'none');

describe('capability-aware routing (two fake ComfyUIs with different models)', function () {
  this.timeout(30_000);
  let s: Setup;

  beforeEach(async () => {
    const one = await startFakeComfy({ checkpoints: ['a.safetensors'] });
    const two = await startFakeComfy({ checkpoints: ['b.safetensors'] });
    one.hideNodeClasses(['ImageInvert']);
    s = await setup([one, two], { 'paint-a': paint('a.safetensors'), 'paint-b': paint('b.safetensors'), 'paint-c': paint('c.safetensors'), invert: INVERT, 'paint-any': paint('a.safetensors', true) });
    // Both backends' capabilities are known once paint-c (no backend has c) is listed unavailable.
    await until(async () => (await listed(s.bridge))['paint-c']?.available === false, 'the capabilities to be learnt');
  });
  afterEach(() => s.close());

  it('sends each workflow only to a backend that can run it', async () => {
    const [one, two] = s.fakes as [FakeComfy, FakeComfy];
    for (const workflow of ['paint-a', 'paint-b', 'invert', 'paint-a', 'paint-b', 'invert', 'paint-a']) {
      const res = await json(s.bridge, '/generate-based-workflow', { workflow, clientId: 'c1' });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
    }
    await until(() => one.prompts.length + two.prompts.length === 7, 'seven prompts');
    expect(ckpts(one)).to.deep.equal(['a.safetensors', 'a.safetensors', 'a.safetensors']);
    expect(ckpts(two)).to.have.members(['b.safetensors', 'b.safetensors', 'none', 'none']);
    expect(one.prompts.every((p) => p.accepted)).to.equal(true);
  });

  it('lists a workflow no backend can run as unavailable and answers it 503 naming the file', async () => {
    const list = await listed(s.bridge);
    expect(list['paint-a']?.available).to.equal(true);
    expect(list.invert?.available).to.equal(true);
    expect(list['paint-c']?.available).to.equal(false);
    // Auth is off, so the caller is an admin and sees what is missing where.
    expect(list['paint-c']?.missing?.one?.join()).to.contain('c.safetensors');
    expect(list['paint-c']?.missing?.two?.join()).to.contain('c.safetensors');
    expect(list['paint-a']?.missing).to.equal(undefined);

    const res = await json(s.bridge, '/generate-based-workflow', { workflow: 'paint-c', clientId: 'c1' });
    expect(res.status).to.equal(503);
    expect(res.body.error).to.equal('workflow_unavailable');
    expect(res.body.detail).to.contain('c.safetensors');
    expect(s.fakes.flatMap((f) => f.prompts)).to.have.length(0);

    const ready = await json(s.bridge, '/ready');
    const two = (ready.body.backends as { name: string; lacks?: string[] }[]).find((b) => b.name === 'two');
    expect(two?.lacks?.join()).to.contain('c.safetensors');
    const one = (ready.body.backends as { name: string; lacks?: string[] }[]).find((b) => b.name === 'one');
    expect(one?.lacks?.join()).to.contain('node class ImageInvert');
  });

  it('makes a workflow available when a backend gains its model, without a restart', async () => {
    const [, two] = s.fakes as [FakeComfy, FakeComfy];
    two.setCheckpoints(['b.safetensors', 'c.safetensors']);
    await until(async () => (await listed(s.bridge))['paint-c']?.available === true, 'paint-c to become available');
    const res = await json(s.bridge, '/generate-based-workflow', { workflow: 'paint-c', clientId: 'c1', wait: true });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body.status).to.equal('closed');
    expect(ckpts(two)).to.deep.equal(['c.safetensors']);
  });

  it('validates a designated model input against the union of the backends, then routes to the one that has it', async () => {
    const info = await json(s.bridge, '/workflow-info?workflow=paint-any');
    expect(info.body['4/ckpt_name'].options).to.deep.equal(['a.safetensors', 'b.safetensors']);

    const wrong = await json(s.bridge, '/generate-based-workflow', { workflow: 'paint-any', clientId: 'c1', '4/ckpt_name': 'z.safetensors' });
    expect(wrong.status).to.equal(400);
    expect(wrong.body.detail).to.contain('"4/ckpt_name"').and.to.contain('a.safetensors').and.to.contain('b.safetensors');

    const right = await json(s.bridge, '/generate-based-workflow', { workflow: 'paint-any', clientId: 'c1', '4/ckpt_name': 'b.safetensors' });
    expect(right.status, JSON.stringify(right.body)).to.equal(200);
    const [one, two] = s.fakes as [FakeComfy, FakeComfy];
    await until(() => two.prompts.length === 1, 'the prompt on two');
    expect(ckpts(two)).to.deep.equal(['b.safetensors']);
    expect(one.prompts).to.have.length(0);
  });

  it("answers a graph ComfyUI refuses for a model it lacks 503 (the operator's), not 400", async () => {
    // A bridge that does not read /object_info again, so it still believes two has b.safetensors when it is removed.
    await s.close();
    const one = await startFakeComfy({ checkpoints: ['a.safetensors'] });
    const again = await startFakeComfy({ checkpoints: ['b.safetensors'] });
    s = await setup([one, again], { 'paint-b': paint('b.safetensors') }, { capabilitiesRefreshMs: 600_000, capabilitiesMinGapMs: 600_000 });
    // Known once one is said to lack b.safetensors.
    await until(async () => ((await json(s.bridge, '/ready')).body.backends as { lacks?: string[] }[]).some((b) => b.lacks), 'the capabilities to be learnt');
    again.setCheckpoints([]);
    const res = await json(s.bridge, '/generate-based-workflow', { workflow: 'paint-b', clientId: 'c1' });
    expect(res.status, JSON.stringify(res.body)).to.equal(503);
    expect(res.body.error).to.equal('workflow_unavailable');
    expect(res.body.detail).to.contain('b.safetensors').and.to.contain('two');
    expect(again.prompts.map((p) => p.accepted)).to.deep.equal([false]);
  });
});

describe('model affinity', function () {
  this.timeout(30_000);
  let s: Setup;
  afterEach(() => s?.close());

  async function start(affinity: Record<string, unknown>): Promise<void> {
    const fakes = [await startFakeComfy({ checkpoints: ['a.safetensors', 'b.safetensors'] }), await startFakeComfy({ checkpoints: ['a.safetensors', 'b.safetensors'] })];
    // Long runs keep the queues filled while the test submits.
    for (const fake of fakes) fake.setNodeDuration('KSampler', 3000);
    s = await setup(fakes, { 'paint-a': paint('a.safetensors'), 'paint-c': paint('c.safetensors') }, { affinity });
    await until(async () => (await listed(s.bridge))['paint-c']?.available === false, 'the capabilities to be learnt');
  }

  it('keeps same-model jobs on one backend until its queue is longer than the bound', async () => {
    await start({ enabled: true, maxQueueImbalance: 2 });
    for (let i = 0; i < 4; i += 1) {
      const res = await json(s.bridge, '/generate-based-workflow', { workflow: 'paint-a', clientId: 'c1' });
      expect(res.status).to.equal(200);
    }
    const [one, two] = s.fakes as [FakeComfy, FakeComfy];
    await until(() => one.prompts.length + two.prompts.length === 4, 'four prompts');
    // 0, 1, 2 ahead on the warm backend are within the bound of 2 over the idle one; the 4th is not.
    const counts = [one.prompts.length, two.prompts.length].sort();
    expect(counts).to.deep.equal([1, 3]);
  });

  it('spreads the same jobs by queue length when affinity is off', async () => {
    await start({ enabled: false });
    for (let i = 0; i < 4; i += 1) expect((await json(s.bridge, '/generate-based-workflow', { workflow: 'paint-a', clientId: 'c1' })).status).to.equal(200);
    const [one, two] = s.fakes as [FakeComfy, FakeComfy];
    await until(() => one.prompts.length + two.prompts.length === 4, 'four prompts');
    expect([one.prompts.length, two.prompts.length]).to.deep.equal([2, 2]);
  });
});
