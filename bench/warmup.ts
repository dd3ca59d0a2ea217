/**
 * What warm-up saves the first client: one fake ComfyUI whose checkpoint load costs MODEL_LOAD_MS (like a GPU
 * loading weights) and a sampling step SAMPLE_MS. The bridge starts; once /ready answers 200 (with warm-up:
 * `readyWaits`, so after the warm-up), one client's generation (`wait: true`) is timed. Compared with the warmup
 * plugin off and on (the workflow marked in its manifest). Prints JSON. `npx tsx bench/warmup.ts`
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startFakeComfy } from '../test/fake-comfyui/index.js';
import { startBridge } from '../test/helpers/bridge.js';
import { until } from '../test/helpers/until.js';
import { scratchDir } from './lib/scratch.js';

const MODEL_LOAD_MS = Number(process.env.MODEL_LOAD_MS ?? 3000);
const SAMPLE_MS = Number(process.env.SAMPLE_MS ?? 100);
const RUNS = Number(process.env.RUNS ?? 3);

const PAINT = {
  '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'a.safetensors' } },
  '5': { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 64, batch_size: 1 } },
  '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a fox', clip: ['4', 1] }, _meta: { title: 'Prompt', apiinput: 'text' } },
  '7': { class_type: 'CLIPTextEncode', inputs: { text: '', clip: ['4', 1] } },
  '3': {
    class_type: 'KSampler',
    inputs: { seed: 1, steps: 1, cfg: 8, sampler_name: 'euler', scheduler: 'normal', denoise: 1, model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] },
  },
  '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
  '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'warm', images: ['8', 0] } },
};

async function firstClient(warmup: boolean): Promise<{ readyAfterMs: number; firstClientMs: number; loadsForClient: number }> {
  const fake = await startFakeComfy({ checkpoints: ['a.safetensors'], modelLoadMs: MODEL_LOAD_MS, nodeDurationMs: 1 });
  fake.setNodeDuration('KSampler', SAMPLE_MS);
  const dir = await scratchDir('warmup-bench-');
  await writeFile(join(dir, 'paint.json'), JSON.stringify(PAINT));
  // The warm-up runs its own prompt text, so the client's run is not a cache hit, only the model is loaded.
  await writeFile(join(dir, 'paint.workflow.yaml'), 'warmup:\n  inputs:\n    6/text: warm-up\n');
  const started = Date.now();
  const bridge = await startBridge({
    plugins: {
      util: {},
      'storage-nedb': { inMemory: true },
      bus: {},
      comfyui: { backends: [{ url: fake.url, name: 'gpu-0' }] },
      workflows: { dir, watch: false },
      generations: {},
      results: {},
      generate: { waitTimeoutMs: 600_000 },
      warmup: warmup ? { readyWaits: true } : false,
    },
  });
  try {
    // What a load balancer does: send nothing before /ready says 200 (and the capabilities are read).
    await until(async () => (await fetch(`${bridge.url}/ready`)).status === 200, 'ready', 600_000);
    await until(async () => ((await (await fetch(`${bridge.url}/workflow-list`)).json()) as { available?: boolean }[])[0]?.available === true, 'capabilities', 10_000);
    const readyAfterMs = Date.now() - started;
    const loads = fake.modelLoads;
    const t0 = Date.now();
    const res = await fetch(`${bridge.url}/generate-based-workflow`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ workflow: 'paint', clientId: 'c1', '6/text': 'a red fox', wait: true }) });
    const body = (await res.json()) as { status?: string };
    if (body.status !== 'closed') throw new Error(`the generation did not complete: ${JSON.stringify(body)}`);
    return { readyAfterMs, firstClientMs: Date.now() - t0, loadsForClient: fake.modelLoads - loads };
  } finally {
    await bridge.close();
    await fake.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const results: Record<string, unknown[]> = { off: [], on: [] };
for (let i = 0; i < RUNS; i += 1) {
  results.off!.push(await firstClient(false));
  results.on!.push(await firstClient(true));
}
console.log(JSON.stringify({ modelLoadMs: MODEL_LOAD_MS, sampleMs: SAMPLE_MS, runs: RUNS, ...results }));
