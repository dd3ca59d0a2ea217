import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Generation } from '../contracts/generation.js';
import type { GenerationService } from '../plugins/generations/api.js';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { sleepGraph, startComfyBridge, type ComfyBridge } from './helpers/comfy-bridge.js';
import { until } from './helpers/until.js';

const SLEEP_MS = 600;

/** EmptyImage → TestSleep → FailingNode → SaveImage: runs a while, then fails before anything is saved. */
const FAILING_GRAPH = {
  '1': { inputs: { width: 8, height: 8, batch_size: 1, color: 0 }, class_type: 'EmptyImage', _meta: { title: 'Empty Image', apiinput: 'color' } },
  '2': { inputs: { value: ['1', 0], seconds: 1 }, class_type: 'TestSleep', _meta: { title: 'Sleep' } },
  '3': { inputs: { message: 'boom', value: ['2', 0] }, class_type: 'FailingNode', _meta: { title: 'Fail' } },
  '4': { inputs: { filename_prefix: 'never', images: ['3', 0] }, class_type: 'SaveImage', _meta: { title: 'Save Image' } },
};

/**
 * The result folder is readied while ComfyUI runs the prompt (results.prepare at the run's start), so the
 * copy after the end does not make it; a generation that ends without results leaves no folder behind.
 */
describe('results: the folder readied while the prompt runs', () => {
  let fake: FakeComfy;
  let stack: ComfyBridge;
  let generations: GenerationService;

  beforeEach(async () => {
    fake = await startFakeComfy();
    fake.setNodeDuration('TestSleep', SLEEP_MS);
    stack = await startComfyBridge({ fakes: [fake], workflows: { sleep: sleepGraph('ready'), failing: FAILING_GRAPH }, plugins: { interrupt: {} } });
    ({ generations } = stack);
  });

  afterEach(() => stack.close());

  const folderOf = (id: string) => join(stack.bridge.dataDir, 'results', id);
  const generate = async (color: number, workflow = 'sleep'): Promise<string> => {
    const response = await fetch(`${stack.bridge.url}/generate-based-workflow?clientId=ready-client`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workflow, '1/color': color }),
    });
    const body = (await response.json()) as { id: string };
    expect(response.status, JSON.stringify(body)).to.equal(200);
    return body.id;
  };
  const ended = async (id: string): Promise<Generation> => {
    const gen = await generations.waitForEnd(id, 15_000);
    expect(gen, `generation ${id} ended`).not.to.equal(undefined);
    return gen!;
  };

  it('makes the empty folder while the prompt runs, and the copy fills it', async () => {
    const id = await generate(0x112233);
    await until(() => existsSync(folderOf(id)), 'the result folder to be made while the prompt runs', 10_000);
    expect((await generations.get(id))!.state, 'still running when its folder exists').to.equal('running');
    expect(await readdir(folderOf(id)), 'empty until the copy').to.deep.equal([]);
    const gen = await ended(id);
    expect(gen.state).to.equal('completed');
    expect(gen.results).to.have.length(1);
    expect(await readdir(folderOf(id))).to.deep.equal([gen.results[0]!.filename]);
    const served = await fetch(`${stack.bridge.url}/results/${id}/${gen.results[0]!.filename}`);
    expect(served.status).to.equal(200);
    expect((await served.arrayBuffer()).byteLength).to.equal(gen.results[0]!.size);
  });

  it('removes the folder of a generation interrupted while it ran', async () => {
    const id = await generate(0x223344);
    await until(() => existsSync(folderOf(id)), 'the result folder to be made while the prompt runs', 10_000);
    const response = await fetch(`${stack.bridge.url}/interrupt?id=${id}`, { method: 'POST' });
    expect(response.status).to.equal(200);
    expect((await ended(id)).state).to.equal('interrupted');
    await until(() => !existsSync(folderOf(id)), 'the folder of the interrupted generation to be removed', 10_000);
  });

  it('removes the folder of a generation whose prompt failed after it started', async () => {
    const id = await generate(0x334455, 'failing');
    await until(() => existsSync(folderOf(id)), 'the result folder to be made while the prompt runs', 10_000);
    const gen = await ended(id);
    expect(gen.state).to.equal('failed');
    await until(() => !existsSync(folderOf(id)), 'the folder of the failed generation to be removed', 10_000);
    expect(existsSync(join(stack.bridge.dataDir, 'results')) ? await readdir(join(stack.bridge.dataDir, 'results')) : []).not.to.include(id);
  });
});
