import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { checkpointGraph as paint } from './helpers/checkpoint-graph.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { until } from './helpers/until.js';

/**
 * /workflow-info and /workflow-list answer prepared bytes kept until what they derive from moves: the workflow
 * set, or the backends' capabilities (read again, or a backend down or up). These tests change the backends under
 * a bridge that has already answered, and would time out on a kept answer that missed the change.
 */

describe('workflows: kept answers follow the backends (two fake ComfyUIs)', function () {
  this.timeout(30_000);
  let one: FakeComfy;
  let two: FakeComfy;
  let dir: string;
  let bridge: RunningBridge | undefined;

  const body = async (path: string): Promise<unknown> => {
    const res = await fetch(`${bridge!.url}${path}`);
    expect(res.status, path).to.equal(200);
    return res.json();
  };
  /** The files /workflow-info offers for the designated checkpoint. */
  const offered = async () => ((await body('/workflow-info?workflow=paint-any')) as Record<string, { options?: string[] }>)['4/ckpt_name']?.options;
  const listed = async () =>
    Object.fromEntries(((await body('/workflow-list')) as { alias: string; available?: boolean; missing?: Record<string, string[]> }[]).map((w) => [w.alias, w]));
  const sameList = (files: string[]) => async () => JSON.stringify(await offered()) === JSON.stringify(files);

  beforeEach(async () => {
    one = await startFakeComfy({ checkpoints: ['a.safetensors'] });
    two = await startFakeComfy({ checkpoints: ['b.safetensors'] });
    dir = await mkdtemp(join(tmpdir(), 'wf-caps-'));
    await writeFile(join(dir, 'paint-any.json'), JSON.stringify(paint('a.safetensors', true)));
    await writeFile(join(dir, 'paint-b.json'), JSON.stringify(paint('b.safetensors', false)));
    await writeFile(join(dir, 'paint-c.json'), JSON.stringify(paint('c.safetensors', false)));
  });

  /** A bridge over both fakes that has answered both routes (and so keeps their answers). */
  async function start(capabilitiesRefreshMs: number): Promise<void> {
    bridge = await startBridge({
      plugins: {
        'storage-nedb': { inMemory: true },
        bus: {},
        comfyui: {
          backends: [
            { url: one.url, name: 'one' },
            { url: two.url, name: 'two' },
          ],
          reconnect: { initialMs: 20, maxMs: 100, jitter: 0 },
          capabilitiesRefreshMs,
          capabilitiesMinGapMs: 0,
        },
        workflows: { dir, watch: false },
      },
    });
    await until(sameList(['a.safetensors', 'b.safetensors']), "both backends' checkpoints to be offered", 10_000);
    await until(async () => (await listed())['paint-c']?.available === false, "both backends' capabilities to be known", 10_000);
    expect(await offered()).to.deep.equal(['a.safetensors', 'b.safetensors']);
  }

  afterEach(async () => {
    await bridge?.close();
    await one.stop();
    await two.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('drops a backend that goes down from both answers, and takes it back when it returns with a new model', async () => {
    // Capabilities read on connect only (not on a timer): what moves the answers is the backend going and coming.
    await start(3_600_000);
    expect((await listed())['paint-b']?.available).to.equal(true);
    await two.stop();
    await until(sameList(['a.safetensors']), "the down backend's checkpoint to leave /workflow-info", 10_000);
    const down = await listed();
    expect(down['paint-b']?.available).to.equal(false);
    expect(down['paint-b']?.missing?.two).to.include('down');

    // Back with a model it did not have: its capabilities are read on reconnect, and both answers show it.
    two.setCheckpoints(['b.safetensors', 'c.safetensors']);
    await two.restart();
    await until(sameList(['a.safetensors', 'b.safetensors', 'c.safetensors']), 'the returning backend to offer its new checkpoint', 10_000);
    await until(async () => (await listed())['paint-c']?.available === true, 'paint-c to be listed available', 10_000);
    expect((await listed())['paint-b']?.available).to.equal(true);
  });

  it('offers a model a backend gained while up once its capabilities are read again, and lists its workflow available', async () => {
    await start(100);
    one.setCheckpoints(['a.safetensors', 'c.safetensors']);
    await until(sameList(['a.safetensors', 'b.safetensors', 'c.safetensors']), 'the gained checkpoint to be offered', 10_000);
    await until(async () => (await listed())['paint-c']?.available === true, 'paint-c to be listed available', 10_000);
    expect((await listed())['paint-c']?.missing).to.equal(undefined);
  });
});
