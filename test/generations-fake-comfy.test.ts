import { expect } from 'chai';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ANONYMOUS } from '../contracts/auth.js';
import type { Generation } from '../contracts/generation.js';
import type { Graph } from '../contracts/graph.js';
import type { BridgeError } from '../core/errors.js';
import { clientTopic, type ClientFrame } from '../contracts/client-frame.js';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { probePlugin, until, type Probe } from './generations-stub-transport.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** EmptyImage → TestSleep (reports progress) → SaveImage: three nodes that will run. */
const SLEEPY: Graph = {
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 6, batch_size: 1, color: 255 } },
  '2': { class_type: 'TestSleep', inputs: { value: ['1', 0], seconds: 1 } },
  '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'bridge' } },
};
const FAILING: Graph = {
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 6, batch_size: 1, color: 0 } },
  '2': { class_type: 'FailingNode', inputs: { message: 'the GPU caught fire', value: ['1', 0] } },
  '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'never' } },
};
const REJECTED: Graph = {
  '3': { class_type: 'SaveImage', inputs: { filename_prefix: 'missing-images' } },
};

const comfyOptions = (url: string) => ({
  backends: [{ url, name: 'fake' }],
  reconnect: { initialMs: 20, maxMs: 100, jitter: 0 },
  lostAfterMs: 400,
  pollIntervalMs: 150,
  requestTimeoutMs: 2000,
});

describe('generations against the fake ComfyUI', function () {
  this.timeout(20_000);
  let fake: FakeComfy;
  const bridges: RunningBridge[] = [];
  const dirs: string[] = [];

  async function start(generations: Record<string, unknown> = {}, dataDir?: string): Promise<{ bridge: RunningBridge; probe: Probe }> {
    const probe: Probe = {};
    const bridge = await startBridge({
      plugins: {
        'storage-nedb': dataDir ? {} : { inMemory: true },
        bus: {},
        comfyui: comfyOptions(fake.url),
        generations,
        results: {},
      },
      extraPlugins: [probePlugin(probe)],
      config: dataDir ? { dataDir } : {},
    });
    bridges.push(bridge);
    await until(() => probe.transport!.pickBackend(), 'the fake backend to be up');
    return { bridge, probe };
  }

  const create = (probe: Probe, graph: Graph, clientId = 'client-a') =>
    probe.generations!.create({ workflow: 'test', clientId, principal: ANONYMOUS, graph, uploads: {} });

  beforeEach(async () => {
    fake = await startFakeComfy({ nodeDurationMs: 5 });
  });
  afterEach(async () => {
    for (const bridge of bridges.splice(0)) await bridge.close();
    await fake.stop();
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it('runs a generation to completion, copies its PNG and serves it with Range and ETag', async () => {
    const { bridge, probe } = await start();
    fake.setNodeDuration('TestSleep', 200);
    const percents: number[] = [];
    const states: string[] = [];
    probe.bus!.subscribe<ClientFrame>(clientTopic('client-a'), ({ payload }) => {
      percents.push(Number(payload.data.percent));
      states.push(String(payload.data.state));
    });
    const gen = await create(probe, SLEEPY);
    expect(gen.totalNodes).to.equal(3);
    const end = (await probe.generations!.waitForEnd(gen.id, 10_000))!;
    expect(end.state).to.equal('completed');
    expect(end.percent).to.equal(100);
    for (let i = 1; i < percents.length; i++) expect(percents[i]).to.be.at.least(percents[i - 1]!);
    expect(percents.some((p) => p > 33.33 && p < 66.66)).to.equal(true); // TestSleep's steps moved it
    expect(states).to.include('running');
    expect(end.results).to.have.length(1);
    const [result] = end.results;
    expect(result).to.include({ contentType: 'image/png', node: '3', kind: 'images' });
    const original = await readFile(join(fake.dirs.outputDir, result!.filename));
    const url = probe.results!.url(end.id, result!.filename);
    expect(url.startsWith(`${bridge.url}/results/${end.id}/`)).to.equal(true);
    const res = await fetch(url);
    expect(res.status).to.equal(200);
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.equals(original)).to.equal(true);
    expect(body.subarray(0, 8).equals(PNG_SIGNATURE)).to.equal(true);
    const part = await fetch(url, { headers: { Range: 'bytes=1-3' } });
    expect(part.status).to.equal(206);
    expect(Buffer.from(await part.arrayBuffer()).toString('latin1')).to.equal('PNG');
    const cached = await fetch(url, { headers: { 'If-None-Match': res.headers.get('etag')! } });
    expect(cached.status).to.equal(304);
    const frame = probe.generations!.frame(end);
    expect(frame).to.deep.include({ status: 'closed', details: 'Execution is done' });
    expect(frame.data.result_urls).to.deep.equal([url]);
  });

  it('fails a generation whose node raises, naming the node and the exception', async () => {
    const { probe } = await start();
    const gen = await create(probe, FAILING);
    const end = (await probe.generations!.waitForEnd(gen.id, 10_000))!;
    expect(end.state).to.equal('failed');
    expect(end.error).to.contain('node 2 (FailingNode)').and.to.contain('RuntimeError').and.to.contain('the GPU caught fire');
    expect(probe.generations!.frame(end).status).to.equal('error');
  });

  it('records a rejected graph as failed and answers 400 naming the node', async () => {
    const { probe } = await start();
    const error = (await create(probe, REJECTED).catch((e: unknown) => e)) as BridgeError;
    expect(error.status).to.equal(400);
    expect(error.detail).to.contain('3');
    const stored = await probe.storage!.generations.get(error.extra.id as string);
    expect(stored?.state).to.equal('failed');
    expect((await probe.storage!.generations.counts()).byState.failed).to.equal(1);
    expect(fake.prompts.at(-1)?.accepted).to.equal(false);
  });

  it('interrupts a running generation, and removes a queued one from the queue', async () => {
    const { probe } = await start();
    fake.setNodeDuration('TestSleep', 1500);
    const running = await create(probe, SLEEPY);
    const queued = await create(probe, SLEEPY, 'client-b');
    await until(async () => (await probe.generations!.get(running.id))?.state === 'running', 'the first to run');
    const removed = await probe.generations!.interrupt(queued.id);
    expect(removed.state).to.equal('interrupted');
    await probe.generations!.interrupt(running.id);
    const end = (await probe.generations!.waitForEnd(running.id, 10_000))!;
    expect(end.state).to.equal('interrupted');
    expect(end.error).to.equal('interrupted on request');
    expect(probe.generations!.activeCount('client-a') + probe.generations!.activeCount('client-b')).to.equal(0);
  });

  it('resubmits a generation the backend forgot when it restarted, and completes it', async () => {
    const { probe } = await start();
    fake.setNodeDuration('TestSleep', 800);
    const gen = await create(probe, SLEEPY);
    await until(async () => (await probe.generations!.get(gen.id))?.state === 'running', 'running');
    await fake.restart();
    fake.setNodeDuration('TestSleep', 50);
    const end = (await probe.generations!.waitForEnd(gen.id, 10_000))!;
    expect(end.state).to.equal('completed');
    expect(end.attempts).to.equal(2);
    expect(end.promptId).to.not.equal(gen.promptId);
    expect(fake.prompts.map((p) => p.promptId)).to.include(end.promptId);
    expect(end.results).to.have.length(1);
  });

  it("fails, never hangs, a forgotten generation with onLost 'fail'", async () => {
    const { probe } = await start({ onLost: 'fail' });
    fake.setNodeDuration('TestSleep', 800);
    const gen = await create(probe, SLEEPY);
    await until(async () => (await probe.generations!.get(gen.id))?.state === 'running', 'running');
    await fake.restart();
    const end = (await probe.generations!.waitForEnd(gen.id, 10_000))!;
    expect(end.state).to.equal('failed');
    expect(end.error).to.contain('no longer knows');
    expect(fake.prompts).to.have.length(1);
  });

  it('lets a generation ComfyUI reports running run on without news past stuckAfterMs (silent backend), to its true end', async () => {
    const { probe } = await start({ stuckAfterMs: 300 });
    fake.setNodeDuration('TestSleep', 3000);
    const gen = await create(probe, SLEEPY);
    await until(async () => (await probe.generations!.get(gen.id))?.state === 'running', 'running');
    fake.goSilent(true);
    const end = (await probe.generations!.waitForEnd(gen.id, 10_000))!;
    expect(end.error).to.equal(null);
    expect(end.state).to.equal('completed');
  });

  it('picks up a generation left running by a stopped bridge and brings it to its true end', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'generations-reconcile-'));
    dirs.push(dataDir);
    fake.setNodeDuration('TestSleep', 600);
    const first = await start({}, dataDir);
    const gen = await create(first.probe, SLEEPY);
    await until(async () => (await first.probe.generations!.get(gen.id))?.state === 'running', 'running');
    await first.bridge.close();
    bridges.splice(bridges.indexOf(first.bridge), 1);

    const second = await start({}, dataDir);
    const end = (await until(async () => {
      const g = await second.probe.generations!.get(gen.id);
      return g && g.state !== 'queued' && g.state !== 'running' ? g : undefined;
    }, 'the generation to end', 10_000)) as Generation;
    expect(end.state).to.equal('completed');
    expect(end.attempts).to.equal(1); // the same prompt finished; nothing was resubmitted
    expect(fake.prompts).to.have.length(1);
    const res = await fetch(second.probe.results!.url(end.id, end.results[0]!.filename));
    expect(res.status).to.equal(200);
    expect(Buffer.from(await res.arrayBuffer()).subarray(0, 8).equals(PNG_SIGNATURE)).to.equal(true);
  });

  it('completes at start a generation that finished while the bridge was down', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'generations-reconcile-'));
    dirs.push(dataDir);
    fake.setNodeDuration('TestSleep', 300);
    const first = await start({}, dataDir);
    const gen = await create(first.probe, SLEEPY);
    await first.bridge.close();
    bridges.splice(bridges.indexOf(first.bridge), 1);
    await fake.waitForIdle();
    const second = await start({}, dataDir);
    const end = (await until(async () => {
      const g = await second.probe.generations!.get(gen.id);
      return g?.state === 'completed' ? g : undefined;
    }, 'completion', 10_000)) as Generation;
    expect(end.percent).to.equal(100);
    expect(end.results).to.have.length(1);
  });
});
