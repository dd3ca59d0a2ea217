import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Graph } from '../contracts/graph.js';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { until } from './helpers/until.js';

const INVERT = {
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
  '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
  '3': { class_type: 'SaveImage', inputs: { filename_prefix: 'pin', images: ['2', 0] } },
} as unknown as Graph;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies of several routes, checked field by field
type Body = any;

async function json(bridge: RunningBridge, path: string, body?: unknown): Promise<{ status: number; body: Body }> {
  const res = await fetch(`${bridge.url}${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

/**
 * Tag pins end to end: two fake ComfyUIs that can both run the same graph, tagged differently; the
 * workflows differ only by their pin. Capabilities cannot explain where a prompt lands, only tags.
 */
describe('tag pins (two fake ComfyUIs with different tags)', function () {
  this.timeout(30_000);
  let fakes: [FakeComfy, FakeComfy];
  let bridge: RunningBridge;
  let dir: string;

  beforeEach(async () => {
    fakes = [await startFakeComfy(), await startFakeComfy()];
    dir = await mkdtemp(join(tmpdir(), 'pin-workflows-'));
    for (const alias of ['on-a100', 'on-h100', 'anywhere']) await writeFile(join(dir, `${alias}.json`), JSON.stringify(INVERT));
    bridge = await startBridge({
      plugins: {
        'storage-nedb': { inMemory: true },
        bus: {},
        comfyui: {
          backends: [
            { url: fakes[0].url, name: 'one', tags: { gpu: 'a100' } },
            { url: fakes[1].url, name: 'two', tags: { gpu: 't4' } },
          ],
          reconnect: { initialMs: 20, maxMs: 100, jitter: 0 },
          capabilitiesMinGapMs: 0,
          pins: { 'on-a100': { gpu: 'a100' }, 'on-h100': { gpu: 'h100' } },
        },
        workflows: { dir, watch: false },
        generations: {},
        results: {},
        generate: {},
        history: {},
        util: {},
      },
    });
    await until(() => fakes.every((fake) => fake.clientCount > 0), 'the backends to connect', 10_000);
  });

  afterEach(async () => {
    await bridge.close();
    for (const fake of fakes) await fake.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('sends a pinned workflow only to the backend with the tag, while an unpinned one spreads over both', async () => {
    for (let i = 0; i < 4; i += 1) {
      const res = await json(bridge, '/generate-based-workflow', { workflow: 'on-a100', clientId: 'c1' });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
    }
    await until(() => fakes[0].prompts.length === 4, 'four prompts on one');
    expect(fakes[1].prompts).to.have.length(0);

    // The control: the same graph without a pin goes to both (equal weights and queues take turns).
    for (let i = 0; i < 4; i += 1) {
      const res = await json(bridge, '/generate-based-workflow', { workflow: 'anywhere', clientId: 'c1' });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
    }
    await until(() => fakes[0].prompts.length + fakes[1].prompts.length === 8, 'eight prompts in all');
    expect(fakes[1].prompts.length).to.be.greaterThan(0);
  });

  it('answers 503 workflow_unavailable naming the tag when no backend carries it', async () => {
    const list = (await json(bridge, '/workflow-list')).body as { alias: string; available?: boolean; missing?: Record<string, string[]> }[];
    const h100 = list.find((w) => w.alias === 'on-h100');
    expect(h100?.available).to.equal(false);
    expect(h100?.missing?.one).to.deep.equal(['tag gpu=h100']);
    expect(h100?.missing?.two).to.deep.equal(['tag gpu=h100']);

    const res = await json(bridge, '/generate-based-workflow', { workflow: 'on-h100', clientId: 'c1' });
    expect(res.status).to.equal(503);
    expect(res.body.error).to.equal('workflow_unavailable');
    expect(res.body.detail).to.contain('tag gpu=h100');
    expect(fakes.flatMap((fake) => fake.prompts)).to.have.length(0);
  });

  it('answers 503 workflow_unavailable, and sends nothing to the other backend, while the tagged one is down', async () => {
    await fakes[0].stop();
    await until(async () => ((await json(bridge, '/ready')).body.backends as { name: string; up: boolean }[]).some((b) => b.name === 'one' && !b.up), 'one to be down');

    const res = await json(bridge, '/generate-based-workflow', { workflow: 'on-a100', clientId: 'c1' });
    expect(res.status).to.equal(503);
    expect(res.body.error).to.equal('workflow_unavailable');
    expect(res.body.detail).to.contain('two lacks tag gpu=a100');
    expect(fakes[1].prompts).to.have.length(0);
    // Nothing was recorded for the refused request.
    expect((await json(bridge, '/history')).body.total_count).to.equal(0);

    // Back up, the pinned workflow runs there again.
    await fakes[0].restart();
    await until(async () => (await json(bridge, '/generate-based-workflow', { workflow: 'on-a100', clientId: 'c1' })).status === 200, 'one to take the workflow again');
    await until(() => fakes[0].prompts.length === 1, 'the prompt on one');
    expect(fakes[1].prompts).to.have.length(0);
  });
});
