import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WsStats } from '../plugins/ws/api.js';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import type { Transport } from '../contracts/transport.js';
import type { PluginManifest } from '../core/plugin.js';
import { grabbing } from './helpers/fixture-plugins.js';
import { until } from './helpers/until.js';

/**
 * The whole bridge as a client meets it — real plugins, real sockets, the fake ComfyUI behind —
 * with a workflows folder of small no-model graphs written for the test.
 */

const node = (class_type: string, inputs: Record<string, unknown>, title: string, apiinput?: string) => ({
  class_type,
  inputs,
  _meta: apiinput ? { title, apiinput } : { title },
});

export const WORKFLOWS: Record<string, Record<string, unknown>> = {
  // EmptyImage → TestSleep (reports progress) → SaveImage.
  sleepy: {
    '1': node('EmptyImage', { width: 8, height: 6, batch_size: 1, color: 255 }, 'Empty Image', 'width,height,color'),
    '2': node('TestSleep', { value: ['1', 0], seconds: 1 }, 'Sleep'),
    '3': node('SaveImage', { images: ['2', 0], filename_prefix: 'sleepy' }, 'Save Image'),
  },
  // LoadImage (an uploaded or the shipped image) → ImageInvert → SaveImage.
  invert: {
    '10': node('LoadImage', { image: 'example.png' }, 'Load Image', 'image'),
    '11': node('ImageInvert', { image: ['10', 0] }, 'Invert Image'),
    '12': node('SaveImage', { images: ['11', 0], filename_prefix: 'invert' }, 'Save Image'),
  },
  // Raises at run time.
  failing: {
    '1': node('EmptyImage', { width: 8, height: 6, batch_size: 1, color: 0 }, 'Empty Image'),
    '2': node('FailingNode', { message: 'the GPU caught fire', value: ['1', 0] }, 'Failing', 'message'),
    '3': node('SaveImage', { images: ['2', 0], filename_prefix: 'never' }, 'Save Image'),
  },
  // Its default image is in no input folder: ComfyUI refuses the graph at POST /prompt.
  rejected: {
    '10': node('LoadImage', { image: 'not-on-comfyui.png' }, 'Load Image', 'image'),
    '12': node('SaveImage', { images: ['10', 0], filename_prefix: 'rejected' }, 'Save Image'),
  },
};

const repoWorkflows = fileURLToPath(new URL('../workflows/', import.meta.url));

/** A temp workflows folder with WORKFLOWS, the shipped example.png, and the repo's text-to-image. */
export async function writeWorkflows(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bridge-e2e-workflows-'));
  await mkdir(join(dir, 'assets'));
  await copyFile(join(repoWorkflows, 'assets', 'example.png'), join(dir, 'assets', 'example.png'));
  await copyFile(join(repoWorkflows, 'text-to-image.json'), join(dir, 'text-to-image.json'));
  await copyFile(join(repoWorkflows, 'text-to-image.workflow.yaml'), join(dir, 'text-to-image.workflow.yaml'));
  for (const [alias, graph] of Object.entries(WORKFLOWS)) await writeFile(join(dir, `${alias}.json`), JSON.stringify(graph, null, 2));
  return dir;
}

export interface Stack {
  fake: FakeComfy;
  bridge: RunningBridge;
  stats: WsStats;
  stop(): Promise<void>;
}

export interface StackOptions {
  nodeDurationMs?: number;
  ws?: Record<string, unknown>;
  generate?: Record<string, unknown>;
  generations?: Record<string, unknown>;
  log?: string;
  /** Plugin options merged over the stack's (e.g. another storage: `{'storage-nedb': false, 'storage-postgres': {...}}`). */
  plugins?: Record<string, Record<string, unknown> | false>;
  /** More fixture plugins (benchmarks tap the services this way). */
  extraPlugins?: PluginManifest<never>[];
}

/** Fake ComfyUI + the bridge with every plugin a client uses; resolves once the backend is up. */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const fake = await startFakeComfy({ nodeDurationMs: options.nodeDurationMs ?? 1 });
  const dir = await writeWorkflows();
  const grabbed: { wsStats?: WsStats; transport?: Transport } = {};
  let bridge: RunningBridge;
  try {
    bridge = await startBridge({
      plugins: {
        'storage-nedb': { inMemory: true },
        comfyui: { backends: [{ url: fake.url, name: 'fake' }], reconnect: { initialMs: 20, maxMs: 200, jitter: 0 } },
        workflows: { dir, watch: false },
        upload: {},
        generations: options.generations ?? {},
        results: {},
        generate: options.generate ?? {},
        ws: { heartbeatMs: 1000, ...options.ws },
        'execution-info': {},
        ...options.plugins,
      },
      // Given first, so they register as early as their own dependencies allow (before the ws plugin, when they can).
      extraPlugins: [...(options.extraPlugins ?? []), grabbing('e2e-grab', ['wsStats', 'transport'], grabbed)],
      config: options.log ? { log: { level: options.log } } : {},
    });
  } catch (error) {
    await fake.stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const stop = async () => {
    await bridge.close();
    await fake.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // The comfyui plugin connects in the background: wait until a generation can be submitted.
    await until(() => grabbed.transport!.pickBackend() !== undefined, 'the fake ComfyUI backend to come up', 5000);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    fake,
    bridge,
    stats: grabbed.wsStats!,
    stop,
  };
}

export interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

export async function postJson(url: string, body: unknown): Promise<Answer> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown>, headers: response.headers };
}

export async function getJson(url: string): Promise<Answer> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as Record<string, unknown>, headers: response.headers };
}
