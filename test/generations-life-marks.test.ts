import { expect } from 'chai';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ANONYMOUS } from '../contracts/auth.js';
import { clientTopic, type ClientFrame } from '../contracts/client-frame.js';
import type { Graph } from '../contracts/graph.js';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { probePlugin, until, type Probe } from './generations-stub-transport.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';

const TINY: Graph = {
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 6, batch_size: 1, color: 7 } },
  '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'marks' } },
};

/**
 * A generation's life, in the order its steps happen in the bridge process: the marks of
 * contracts/life-marks.ts (what bench/p9-marks.ts times), node's own "request written" channel for the
 * requests to ComfyUI, and the client's frames on the bus. The order is the answer path's contract
 * (docs/architecture.md): nothing is sent before the row is in the file, the answer waits for its
 * fdatasync, the result file is in place before the final row, and `closed` follows that row's fdatasync.
 */
describe('generations: the answer path, in the order of its steps', function () {
  this.timeout(20_000);
  let fake: FakeComfy | undefined;
  let bridge: RunningBridge | undefined;
  let dataDir: string | undefined;
  const steps: string[] = [];
  const onMark = (step: unknown) => steps.push(String(step));
  // Published when the request's bytes are handed to its socket (ClientRequest#_finish).
  const onRequest = (message: unknown) => {
    const { request } = message as { request: ClientRequest };
    steps.push(`out: ${request.method} ${request.path.split('?')[0]}`);
  };

  beforeEach(() => {
    steps.length = 0;
    subscribe('comfy-bridge:life', onMark);
    subscribe('http.client.request.start', onRequest);
  });
  afterEach(async () => {
    unsubscribe('comfy-bridge:life', onMark);
    unsubscribe('http.client.request.start', onRequest);
    await bridge?.close();
    await fake?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    bridge = fake = dataDir = undefined;
  });

  it('writes, sends, syncs and announces in the contract order, and sends the prompt before the queued frame', async () => {
    fake = await startFakeComfy({ nodeDurationMs: 0 });
    dataDir = await mkdtemp(join(tmpdir(), 'cb-life-marks-'));
    const probe: Probe = {};
    bridge = await startBridge({
      plugins: { 'storage-nedb': {}, bus: {}, comfyui: { backends: [{ url: fake.url, name: 'fake' }], requestTimeoutMs: 5000 }, generations: {}, results: {} },
      extraPlugins: [probePlugin(probe)],
      config: { dataDir },
    });
    await until(() => probe.transport!.pickBackend(), 'the fake backend to be up');
    probe.bus!.subscribe<ClientFrame>(clientTopic('client-m'), ({ payload }) => steps.push(`frame: ${payload.status === 'closed' ? 'closed' : String(payload.data.state)}`));
    steps.length = 0;

    const gen = await probe.generations!.create({ workflow: 'test', clientId: 'client-m', principal: ANONYMOUS, graph: TINY, uploads: {} });
    steps.push('answered');
    await until(() => steps.includes('frame: closed'), 'the closed frame');
    const end = await probe.generations!.get(gen.id);
    expect(end?.state).to.equal('completed');

    const at = (step: string, after = 0): number => {
      const index = steps.indexOf(step, after);
      expect(index, `${step} (after step ${after}) in ${steps.join(' → ')}`).to.be.at.least(0);
      return index;
    };
    const before = (first: string, second: string, from = 0) => expect(at(first, from), `${first} before ${second}: ${steps.join(' → ')}`).to.be.below(at(second, from));
    // The start: in the file, then sent (before the queued frame is published), synced, then answered.
    before('append: pwrite generations.db', 'out: POST /prompt');
    before('create: row in the file', 'out: POST /prompt');
    before('out: POST /prompt', 'frame: queued');
    before('append: synced generations.db', 'answered');
    before('create: row synced', 'answered');
    // The end: the result file in place before the final row is written; closed only once that row is synced.
    before('results: file in place', 'row write: completed');
    const finalRow = at('row write: completed');
    before('append: pwrite generations.db', 'append: synced generations.db', finalRow);
    before('append: synced generations.db', 'frame: closed', finalRow);
    before('row written: completed', 'frame: closed', finalRow);
    // The output was asked for when `executed` announced it, and its request left before the run's end was applied.
    before('out: GET /view', 'copy');
  });
});
