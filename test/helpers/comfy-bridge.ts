import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GenerationService } from '../../plugins/generations/api.js';
import type { Transport } from '../../contracts/transport.js';
import type { FakeComfy } from '../fake-comfyui/index.js';
import { startBridge, type RunningBridge } from './bridge.js';
import { grabbing } from './fixture-plugins.js';
import { until } from './until.js';

const BACKEND_NAMES = ['one', 'two', 'three', 'four'];

/**
 * EmptyImage → TestSleep → SaveImage, its color the designated input: a distinct color per request means no cache
 * hit (and names the request in the fake's received graphs), `setNodeDuration('TestSleep', ms)` keeps the backend busy.
 */
export const sleepGraph = (filenamePrefix: string) => ({
  '1': { inputs: { width: 8, height: 8, batch_size: 1, color: 0 }, class_type: 'EmptyImage', _meta: { title: 'Empty Image', apiinput: 'color' } },
  '2': { inputs: { value: ['1', 0], seconds: 1 }, class_type: 'TestSleep', _meta: { title: 'Sleep' } },
  '3': { inputs: { filename_prefix: filenamePrefix, images: ['2', 0] }, class_type: 'SaveImage', _meta: { title: 'Save Image' } },
});

export interface ComfyBridgeOptions {
  /** Started fake ComfyUIs; they become the backends "one", "two", … in this order. */
  fakes: readonly FakeComfy[];
  /** Workflow files to serve: alias → API-format graph. */
  workflows: Record<string, object>;
  /** More plugins (name → options), loaded after storage, comfyui, workflows, generations and generate. */
  plugins?: Record<string, Record<string, unknown>>;
}

export interface ComfyBridge {
  bridge: RunningBridge;
  generations: GenerationService;
  /** Closes the bridge, stops the fakes and removes the workflows folder. */
  close(): Promise<void>;
}

/**
 * The bridge with the real generation plugins in front of fake ComfyUIs, serving the given workflows
 * from a temp folder; resolves once the transport reports every backend up (socket open and capabilities read:
 * the fake seeing a socket is not enough, a submission before the capabilities are read is a 503).
 */
export async function startComfyBridge(options: ComfyBridgeOptions): Promise<ComfyBridge> {
  const workflowsDir = await mkdtemp(join(tmpdir(), 'comfy-bridge-workflows-'));
  for (const [alias, graph] of Object.entries(options.workflows)) await writeFile(join(workflowsDir, `${alias}.json`), JSON.stringify(graph));
  const grabbed: { generations?: GenerationService; transport?: Transport } = {};
  const stopFakes = async () => {
    for (const fake of options.fakes) await fake.stop();
    await rm(workflowsDir, { recursive: true, force: true });
  };
  let bridge: RunningBridge;
  try {
    bridge = await startBridge({
      plugins: {
        'storage-nedb': { inMemory: true },
        bus: {},
        comfyui: { backends: options.fakes.map((fake, i) => ({ url: fake.url, name: BACKEND_NAMES[i] ?? `backend-${i + 1}` })) },
        workflows: { dir: workflowsDir, watch: false },
        generations: {},
        results: {},
        generate: {},
        ...options.plugins,
      },
      extraPlugins: [grabbing('generations-probe', ['generations', 'transport'], grabbed)],
    });
  } catch (error) {
    await stopFakes();
    throw error;
  }
  const close = async () => {
    await bridge.close();
    await stopFakes();
  };
  try {
    await until(() => grabbed.transport!.backends().filter((b) => b.up).length === options.fakes.length, 'the backends to be up', 10_000);
  } catch (error) {
    await close();
    throw error;
  }
  return { bridge, generations: grabbed.generations!, close };
}
