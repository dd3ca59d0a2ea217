import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ANONYMOUS } from '../contracts/auth.js';
import { clientTopic, type ClientFrame } from '../contracts/client-frame.js';
import type { Graph } from '../contracts/graph.js';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { probePlugin, until, type Probe } from './generations-stub-transport.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { Door } from './helpers/door.js';
import { FakeComfyProcess } from './helpers/fake-comfy-process.js';

/** EmptyImage → TestSleep (its length is the fake's TestSleep duration) → SaveImage. */
const sleepy = (color: number): Graph => ({
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 6, batch_size: 1, color } },
  '2': { class_type: 'TestSleep', inputs: { value: ['1', 0], seconds: 1 } },
  '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'failover' } },
});

/** Posts a generate request directly to a backend (another user of that ComfyUI), to keep it busy. */
async function occupy(url: string, color: number): Promise<string> {
  const res = await fetch(`${url}/prompt`, { method: 'POST', body: JSON.stringify({ prompt: sleepy(color), client_id: 'someone-else' }) });
  return ((await res.json()) as { prompt_id: string }).prompt_id;
}

describe('comfyui failover: frozen, refusing and lost backends (real processes)', function () {
  this.timeout(60_000);
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()?.();
  });

  async function child(durations: Record<string, number>): Promise<FakeComfyProcess> {
    const fake = new FakeComfyProcess({ nodeDurationMs: 5, durations });
    await fake.start();
    cleanups.push(() => fake.stop());
    return fake;
  }

  async function inProcess(sleepMs: number): Promise<FakeComfy> {
    const fake = await startFakeComfy({ nodeDurationMs: 5 });
    fake.setNodeDuration('TestSleep', sleepMs);
    cleanups.push(() => fake.stop());
    return fake;
  }

  /** The bridge with the real plugins (the deadlines left at their defaults unless given). */
  async function bridgeOver(
    backends: { url: string; name: string; weight?: number }[],
    comfyui: Record<string, unknown> = {},
  ): Promise<{ bridge: RunningBridge; probe: Probe }> {
    const workflowsDir = await mkdtemp(join(tmpdir(), 'failover-workflows-'));
    cleanups.push(() => rm(workflowsDir, { recursive: true, force: true }));
    await writeFile(join(workflowsDir, 'sleepy.json'), JSON.stringify(sleepy(0)));
    const probe: Probe = {};
    const bridge = await startBridge({
      plugins: {
        'storage-nedb': { inMemory: true },
        bus: {},
        comfyui: { backends, reconnect: { initialMs: 50, maxMs: 400, jitter: 0 }, ...comfyui },
        workflows: { dir: workflowsDir, watch: false },
        generations: {},
        results: {},
        generate: {},
        util: {},
      },
      extraPlugins: [probePlugin(probe)],
    });
    cleanups.push(() => bridge.close());
    await until(() => probe.transport!.backends().every((b) => b.up), 'every backend to be up', 10_000);
    return { bridge, probe };
  }

  const create = (probe: Probe, graph: Graph, clientId: string) =>
    probe.generations!.create({ workflow: 'sleepy', clientId, principal: ANONYMOUS, graph, uploads: {} });

  const stateOf = async (probe: Probe, id: string) => (await probe.generations!.get(id))?.state;

  it('marks a frozen (SIGSTOP) backend down with the default deadlines, answers 503 meanwhile, and resumes its prompt on SIGCONT', async () => {
    const comfy = await child({ TestSleep: 2500 });
    const { bridge, probe } = await bridgeOver([{ url: comfy.url, name: 'frozen' }]);
    const gen = await create(probe, sleepy(1), 'frozen-client');
    await until(async () => (await stateOf(probe, gen.id)) === 'running', 'the generation to run', 10_000);

    comfy.freeze();
    // Sent while the bridge still thinks the backend is up: it must not wait for the 30 s request deadline.
    const early = fetch(`${bridge.url}/generate-based-workflow?clientId=early`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workflow: 'sleepy' }),
    });
    await until(() => probe.transport!.backends()[0]!.up === false, 'the frozen backend to be marked down', 15_000);
    expect(probe.transport!.backends()[0]!.lastError).to.match(/stopped answering|silent/);
    const notReady = await fetch(`${bridge.url}/ready`);
    expect(notReady.status).to.equal(503);
    expect(((await notReady.json()) as { reasons: string[] }).reasons).to.deep.equal(['backend frozen is down']);
    const earlyAnswer = await early;
    expect(earlyAnswer.status).to.equal(503);
    expect(earlyAnswer.headers.get('retry-after')).to.equal('5');
    expect(((await earlyAnswer.json()) as { error: string }).error).to.equal('backend_unavailable');

    const late = await fetch(`${bridge.url}/generate-based-workflow?clientId=late`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workflow: 'sleepy' }),
    });
    expect(late.status).to.equal(503);
    expect(((await late.json()) as { error: string }).error).to.equal('backend_unavailable');
    expect(await stateOf(probe, gen.id)).to.equal('running');

    comfy.thaw();
    await until(async () => (await fetch(`${bridge.url}/ready`)).status === 200, 'ready again once thawed', 30_000);
    const end = (await probe.generations!.waitForEnd(gen.id, 30_000))!;
    expect(end.state).to.equal('completed');
    expect(end.attempts).to.equal(1);
    // The submission abandoned while frozen may have reached the fake: deleted first thing, never run.
    await until(async () => {
      const queue = await comfy.queued();
      return queue.running.length === 0 && queue.pending.length === 0;
    }, 'the thawed backend to be idle', 10_000);
    expect(await comfy.ran()).to.deep.equal([gen.promptId]);
    // The refused requests left nothing that will run later (the early one is recorded failed).
    const { byState } = await probe.storage!.generations.counts();
    expect(byState.completed).to.equal(1);
    expect(byState.queued + byState.running).to.equal(0);
  });

  it('moves a prompt queued on a backend that refuses connections to a healthy one, and deletes it from the old queue when it answers again', async () => {
    const slow = await child({ TestSleep: 8000 });
    const door = new Door(slow.port);
    await door.open();
    cleanups.push(() => door.close());
    const healthy = await inProcess(4000);
    // Both busy with someone else's prompt; the heavier weight takes the bridge's generation.
    const blocker = await occupy(slow.url, 40);
    await occupy(healthy.url, 41);
    const { probe } = await bridgeOver(
      [
        { url: `http://127.0.0.1:${door.port}`, name: 'behind-door', weight: 2 },
        { url: healthy.url, name: 'healthy' },
      ],
    );
    await until(() => probe.transport!.backends().every((b) => b.queueRemaining === 1), 'both backends to report their busy queue', 10_000);
    const frames: ClientFrame[] = [];
    probe.bus!.subscribe<ClientFrame>(clientTopic('mover'), ({ payload }) => void frames.push(payload));
    const gen = await create(probe, sleepy(2), 'mover');
    expect(gen.backend).to.equal('behind-door');
    const firstPrompt = gen.promptId;
    await until(async () => (await slow.queued()).pending.includes(firstPrompt), 'the prompt to wait in the slow queue');

    await door.close(); // real refused connections from here on; the fake behind keeps its queue
    await until(async () => (await probe.generations!.get(gen.id))?.backend === 'healthy', 'the generation to move', 15_000);
    const moved = (await probe.generations!.get(gen.id))!;
    expect(moved.promptId).to.not.equal(firstPrompt);
    expect(moved.attempts).to.equal(2);

    await door.open(); // the old backend answers again, its queue intact
    await until(async () => !(await slow.queued()).pending.includes(firstPrompt), 'the moved prompt to be deleted from the old queue', 15_000);
    expect((await slow.queued()).running).to.deep.equal([blocker]);

    const end = (await probe.generations!.waitForEnd(gen.id, 30_000))!;
    expect(end.state).to.equal('completed');
    expect(end.backend).to.equal('healthy');
    await until(async () => (await slow.queued()).running.length === 0, 'the slow backend to finish its own prompt', 20_000);
    // Nothing ran twice: the old backend ran only its other user's prompt.
    expect(await slow.ran()).to.deep.equal([blocker]);
    expect((await slow.prompts()).filter((p) => p.promptId === firstPrompt)).to.have.length(1);
    expect(healthy.prompts.filter((p) => p.promptId === moved.promptId)).to.have.length(1);
    const notice = frames.find((f) => f.status === 'progress' && /^backend lost, resubmitting/.test(f.details));
    expect(notice?.details).to.match(/refuses connections and the prompt had not started/);
  });

  it('resubmits a running prompt once after the lost grace when its backend process is killed, and tells its sockets', async () => {
    const doomed = await child({ TestSleep: 6000 });
    const spare = await inProcess(200);
    const { probe } = await bridgeOver(
      [
        { url: doomed.url, name: 'doomed', weight: 2 },
        { url: spare.url, name: 'spare' },
      ],
      { lostAfterMs: 1500 },
    );
    const frames: ClientFrame[] = [];
    probe.bus!.subscribe<ClientFrame>(clientTopic('victim'), ({ payload }) => void frames.push(payload));
    const gen = await create(probe, sleepy(3), 'victim');
    expect(gen.backend).to.equal('doomed');
    await until(async () => (await stateOf(probe, gen.id)) === 'running', 'the generation to run', 10_000);

    await doomed.kill();
    const end = (await probe.generations!.waitForEnd(gen.id, 30_000))!;
    expect(end.state).to.equal('completed');
    expect(end.backend).to.equal('spare');
    expect(end.attempts).to.equal(2);
    expect(spare.prompts).to.have.length(1);
    const notice = frames.find((f) => f.status === 'progress' && /^backend lost, resubmitting/.test(f.details));
    expect(notice, 'a frame saying the backend was lost').to.not.equal(undefined);
    expect(notice!.details).to.match(/doomed has been unreachable/);
    expect(notice!.data.state).to.equal('queued');
    expect(frames.indexOf(notice!)).to.be.lessThan(frames.findIndex((f) => f.status === 'closed'));
  });
});
