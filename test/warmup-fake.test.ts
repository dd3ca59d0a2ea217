import { expect } from 'chai';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bus } from '../contracts/bus.js';
import type { Graph } from '../contracts/graph.js';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { grabbing } from './helpers/fixture-plugins.js';
import { captureLogs, type LogLine } from './helpers/log-lines.js';
import { checkpointGraph } from './helpers/checkpoint-graph.js';
import { until } from './helpers/until.js';

const EXAMPLE_PNG = new URL('../workflows/assets/example.png', import.meta.url);


/** Inverts the shipped example image (an image input, so a warm-up must put the file on the backend). */
const INVERT = {
  '1': { class_type: 'LoadImage', inputs: { image: 'example.png' }, _meta: { title: 'Image', apiinput: 'image' } },
  '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
  '3': { class_type: 'SaveImage', inputs: { filename_prefix: 'inv', images: ['2', 0] } },
} as unknown as Graph;

interface Setup {
  bridge: RunningBridge;
  fakes: FakeComfy[];
  logs: LogLine[];
  published: string[];
  close(): Promise<void>;
}

/** A bridge over `fakes` (named one, two) with `files` in its workflows folder (plus assets/example.png). */
async function setup(fakes: FakeComfy[], files: Record<string, unknown>, warmup: Record<string, unknown>): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'warmup-workflows-'));
  await mkdir(join(dir, 'assets'));
  await copyFile(EXAMPLE_PNG, join(dir, 'assets', 'example.png'));
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  const { log, lines } = captureLogs('info');
  const grabbed: { bus?: Bus } = {};
  const bridge = await startBridge({
    log,
    extraPlugins: [grabbing('grab-bus', ['bus'], grabbed)],
    plugins: {
      'storage-nedb': { inMemory: true },
      bus: {},
      comfyui: {
        backends: fakes.map((fake, i) => ({ url: fake.url, name: ['one', 'two'][i]! })),
        reconnect: { initialMs: 20, maxMs: 100, jitter: 0 },
        capabilitiesMinGapMs: 0,
      },
      workflows: { dir, watch: false },
      generations: {},
      results: {},
      generate: {},
      history: {},
      ws: {},
      metrics: {},
      util: {},
      warmup,
    },
  });
  // Every frame the bridge publishes (client frames go through the bus, whoever listens).
  const published: string[] = [];
  const bus = grabbed.bus!;
  const publish = bus.publish.bind(bus);
  bus.publish = (topic, payload) => {
    published.push(topic);
    return publish(topic, payload);
  };
  const close = async () => {
    await bridge.close();
    for (const fake of fakes) await fake.stop();
    await rm(dir, { recursive: true, force: true });
  };
  return { bridge, fakes, logs: lines, published, close };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies of several routes, checked field by field
type Body = any;

async function json(bridge: RunningBridge, path: string, body?: unknown): Promise<{ status: number; body: Body }> {
  const res = await fetch(`${bridge.url}${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

const metrics = async (bridge: RunningBridge): Promise<string> => (await fetch(`${bridge.url}/metrics`)).text();

/** `comfy_bridge_warmup_seconds` for one backend and workflow, or undefined when it has no sample. */
async function warmupSeconds(bridge: RunningBridge, backend: string, workflow: string): Promise<number | undefined> {
  const line = (await metrics(bridge)).split('\n').find((l) => l.startsWith(`comfy_bridge_warmup_seconds{backend="${backend}",workflow="${workflow}"}`));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

const accepted = (fake: FakeComfy) => fake.prompts.filter((p) => p.accepted);
const classes = (prompt: { graph: Record<string, unknown> }) => Object.values(prompt.graph).map((n) => (n as { class_type: string }).class_type);
const input = (prompt: { graph: Record<string, unknown> }, node: string, name: string) => (prompt.graph[node] as { inputs: Record<string, unknown> }).inputs[name];

describe('warm-up (fake ComfyUIs with different models)', function () {
  this.timeout(30_000);
  let s: Setup | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  it('runs each marked workflow once per capable backend on connect and again after a restart, outside history, counts and frames', async () => {
    const one = await startFakeComfy({ checkpoints: ['a.safetensors'] });
    const two = await startFakeComfy({ checkpoints: ['b.safetensors'] });
    s = await setup(
      [one, two],
      {
        // Marked in its manifest, with a value of its own for the run; only one has a.safetensors.
        'paint-a.json': checkpointGraph('a.safetensors'),
        'paint-a.workflow.yaml': 'warmup:\n  inputs:\n    6/text: warming up\n',
        // Not marked: never warmed.
        'paint-b.json': checkpointGraph('b.safetensors'),
        // Marked in the config below; both can run it.
        'invert.json': INVERT,
      },
      { workflows: ['invert'] },
    );
    await until(async () => (await warmupSeconds(s!.bridge, 'one', 'paint-a')) !== undefined && (await warmupSeconds(s!.bridge, 'one', 'invert')) !== undefined && (await warmupSeconds(s!.bridge, 'two', 'invert')) !== undefined, 'the warm-ups to be timed', 10_000);

    expect(accepted(one).map(classes).map((c) => c.includes('ImageInvert'))).to.have.members([false, true]);
    const paintRun = accepted(one).find((p) => classes(p).includes('KSampler'))!;
    expect(input(paintRun, '6', 'text')).to.equal('warming up');
    expect(input(paintRun, '4', 'ckpt_name')).to.equal('a.safetensors');
    // The shipped image was put on each backend before its run.
    expect([...one.uploads.keys()]).to.include(input(accepted(one).find((p) => classes(p).includes('ImageInvert'))!, '1', 'image'));
    expect(accepted(two).map(classes)).to.deep.equal([['LoadImage', 'ImageInvert', 'SaveImage']]);
    expect(two.prompts.every((p) => p.accepted)).to.equal(true);
    expect(await warmupSeconds(s.bridge, 'two', 'paint-a')).to.equal(undefined);
    expect(await warmupSeconds(s.bridge, 'one', 'paint-b')).to.equal(undefined);
    expect(await warmupSeconds(s.bridge, 'one', 'paint-a')).to.be.greaterThan(0);

    // Outside history and counts, and nothing was published for any client.
    expect((await json(s.bridge, '/history')).body.total_count).to.equal(0);
    expect((await json(s.bridge, '/generation-count')).body.generation_count).to.equal(0);
    expect(s.published).to.deep.equal([]);

    // The model is loaded: a client's first run of it loads nothing.
    const loads = one.modelLoads;
    const res = await json(s.bridge, '/generate-based-workflow', { workflow: 'paint-a', clientId: 'c1', wait: true });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(one.modelLoads).to.equal(loads);

    // A restart forgets the model: both warm-ups run again on one, and nothing more on two.
    await one.restart();
    await until(() => accepted(one).length === 5, 'the warm-ups to run again on one', 10_000);
    await one.waitForIdle();
    expect(accepted(one).slice(3).map(classes).map((c) => c.includes('ImageInvert'))).to.have.members([false, true]);
    expect(accepted(two)).to.have.length(1);
    expect((await json(s.bridge, '/generation-count')).body.generation_count).to.equal(1);
  });

  it('holds /ready while the warm-up is pending when told to, and a warm-up past its timeout is interrupted, warned about and no longer holds it', async () => {
    const one = await startFakeComfy({ checkpoints: ['a.safetensors'] });
    // 200 steps of 100 ms: far longer than the timeout, and interruptible between steps.
    one.setNodeDuration('KSampler', 20_000);
    s = await setup([one], { 'paint-a.json': checkpointGraph('a.safetensors'), 'paint-a.workflow.yaml': 'warmup:\n  inputs:\n    3/steps: 200\n' }, { readyWaits: true, timeoutMs: 3000 });

    const held = await until(async () => {
      const ready = await json(s!.bridge, '/ready');
      return ready.status === 503 && (ready.body.reasons as string[]).some((r) => r.includes('warm-up of workflow paint-a is pending on one')) && ready;
    }, '/ready to wait for the warm-up', 10_000);
    expect(held.body.ready).to.equal(false);
    expect(await metrics(s.bridge)).to.contain('comfy_bridge_warmup_pending{backend="one",workflow="paint-a"} 1');

    await until(async () => (await json(s!.bridge, '/ready')).status === 200, '/ready once the warm-up gave up', 10_000);
    const warn = await until(() => s!.logs.find((l) => l.level === 40 && l.msg.startsWith('warm-up failed')), 'the warning');
    expect(warn.backend).to.equal('one');
    expect(warn.workflow).to.equal('paint-a');
    expect(warn.end).to.equal('timeout');
    // It no longer occupies the backend: interrupted between two steps, long before its 20 s.
    await one.waitForIdle();
    expect(await metrics(s.bridge)).to.contain('comfy_bridge_warmup_pending{backend="one",workflow="paint-a"} 0');
  });

  it('a failed warm-up is logged at warn and blocks neither /ready nor clients', async () => {
    const one = await startFakeComfy({ checkpoints: ['a.safetensors'] });
    one.failNextRun('out of memory');
    s = await setup([one], { 'paint-a.json': checkpointGraph('a.safetensors'), 'paint-a.workflow.yaml': 'warmup: true\n' }, { readyWaits: true });
    const warn = await until(() => s!.logs.find((l) => l.level === 40 && l.msg.startsWith('warm-up failed')), 'the warning', 10_000);
    expect(warn.reason).to.contain('out of memory');
    expect((await json(s.bridge, '/ready')).status).to.equal(200);
    const res = await json(s.bridge, '/generate-based-workflow', { workflow: 'paint-a', clientId: 'c1', wait: true });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body.status).to.equal('closed');
    expect(await warmupSeconds(s.bridge, 'one', 'paint-a')).to.equal(undefined);
  });
});
