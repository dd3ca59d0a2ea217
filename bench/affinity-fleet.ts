/**
 * A simulated fleet: 3 fake ComfyUIs where loading a checkpoint other than the one in memory costs
 * MODEL_LOAD_MS (like a GPU loading weights) and a sampling step SAMPLE_MS. JOBS generations over 3
 * checkpoints, in a shuffled order, are submitted at once; the total time until all ended and the
 * number of model loads are compared between shortest-queue routing (affinity off) and model
 * affinity (on, maxQueueImbalance 2). Prints JSON. `npx tsx bench/affinity-fleet.ts`
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startFakeComfy } from '../test/fake-comfyui/index.js';
import { startBridge } from '../test/helpers/bridge.js';
import { until } from '../test/helpers/until.js';
import { scratchDir } from './lib/scratch.js';

const MODEL_LOAD_MS = Number(process.env.MODEL_LOAD_MS ?? 400);
const SAMPLE_MS = Number(process.env.SAMPLE_MS ?? 50);
const JOBS = Number(process.env.JOBS ?? 60);
const MODELS = ['a.safetensors', 'b.safetensors', 'c.safetensors'];

function paint(ckpt: string): object {
  return {
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: ckpt } },
    '5': { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 64, batch_size: 1 } },
    '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a fox', clip: ['4', 1] } },
    '7': { class_type: 'CLIPTextEncode', inputs: { text: '', clip: ['4', 1] } },
    '3': {
      class_type: 'KSampler',
      inputs: { seed: 1, steps: 1, cfg: 8, sampler_name: 'euler', scheduler: 'normal', denoise: 1, model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] },
    },
    '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
    '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'fleet', images: ['8', 0] } },
  };
}

/** A fixed shuffle (same order for both runs): a small LCG, so runs compare like with like. */
function order(): string[] {
  let seed = 42;
  const jobs = Array.from({ length: JOBS }, (_, i) => MODELS[i % MODELS.length]!);
  for (let i = jobs.length - 1; i > 0; i -= 1) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const j = seed % (i + 1);
    [jobs[i], jobs[j]] = [jobs[j]!, jobs[i]!];
  }
  return jobs.map((model) => `paint-${model[0]}`);
}

async function run(affinity: boolean): Promise<{ totalMs: number; modelLoads: number }> {
  const fakes = await Promise.all([0, 1, 2].map(() => startFakeComfy({ checkpoints: MODELS, modelLoadMs: MODEL_LOAD_MS, nodeDurationMs: 1 })));
  for (const fake of fakes) fake.setNodeDuration('KSampler', SAMPLE_MS);
  const dir = await scratchDir('fleet-workflows-');
  for (const model of MODELS) await writeFile(join(dir, `paint-${model[0]}.json`), JSON.stringify(paint(model)));
  const bridge = await startBridge({
    plugins: {
      'storage-nedb': { inMemory: true },
      bus: {},
      comfyui: { backends: fakes.map((fake, i) => ({ url: fake.url, name: `gpu-${i}` })), affinity: { enabled: affinity, maxQueueImbalance: 2 } },
      workflows: { dir, watch: false },
      generations: {},
      results: {},
      'execution-info': {},
      generate: { maxActive: 10_000, maxActivePerClient: 10_000, waitTimeoutMs: 600_000 },
    },
  });
  try {
    await until(() => fakes.every((fake) => fake.clientCount > 0), 'the backends to connect', 10_000);
    // Capabilities learnt: every backend knows the three checkpoints.
    await until(async () => {
      const list = (await (await fetch(`${bridge.url}/workflow-list`)).json()) as { available?: boolean }[];
      return list.every((w) => w.available === true);
    }, 'capabilities', 10_000);
    const started = Date.now();
    const answers: string[] = [];
    // Submitted one after another (each answer is the queued generation), then all awaited.
    for (const workflow of order()) {
      const res = await fetch(`${bridge.url}/generate-based-workflow`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ workflow, clientId: 'fleet' }) });
      answers.push(((await res.json()) as { id: string }).id);
    }
    await until(async () => {
      for (const id of answers) {
        const body = (await (await fetch(`${bridge.url}/execution-info?id=${id}&clientId=fleet`)).json()) as { status?: string };
        if (body.status !== 'closed' && body.status !== 'error') return false;
      }
      return true;
    }, 'every generation to end', 600_000);
    return { totalMs: Date.now() - started, modelLoads: fakes.reduce((n, fake) => n + fake.modelLoads, 0) };
  } finally {
    await bridge.close();
    for (const fake of fakes) await fake.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const shortestQueue = await run(false);
const affinity = await run(true);
console.log(JSON.stringify({ jobs: JOBS, backends: 3, modelLoadMs: MODEL_LOAD_MS, sampleMs: SAMPLE_MS, shortestQueue, affinity }));
