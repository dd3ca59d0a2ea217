/**
 * The routing decision's cost: BackendChoice.pick() for a generation's graph with 50 backends that
 * differ in node classes and model files, over 200 workflows (each a ~10-node graph naming 1–2
 * model files). Compared with the capability-blind shortest-queue pick (BackendPool.pick's loop).
 * Prints JSON: µs per decision (median of 5 rounds). `npx tsx bench/routing.ts`
 */
import pino from 'pino';
import type { Graph } from '../contracts/graph.js';
import type { BackendConnection } from '../plugins/comfyui/backend-connection.js';
import { BackendChoice } from '../plugins/comfyui/backend-choice.js';
import { CapabilityStore } from '../plugins/comfyui/capability-store.js';
import { median, round } from './lib/stats.js';

const BACKENDS = 50;
const WORKFLOWS = 200;
const ROUNDS = 5;
const PICKS = 20_000;

const checkpoints = Array.from({ length: 40 }, (_, i) => `ckpt-${i}.safetensors`);
const loras = Array.from({ length: 80 }, (_, i) => `lora-${i}.safetensors`);
const baseClasses = Array.from({ length: 600 }, (_, i) => `Node${i}`);

function objectInfo(index: number): Record<string, unknown> {
  const all: Record<string, unknown> = {};
  // Every backend has most classes; each lacks a few (missing custom nodes).
  for (const [i, name] of baseClasses.entries()) if ((i + index) % 17 !== 0) all[name] = { input: { required: { value: ['INT', {}] } } };
  all.CheckpointLoaderSimple = { input: { required: { ckpt_name: [checkpoints.filter((_, i) => (i + index) % 3 !== 0)] } } };
  all.LoraLoader = { input: { required: { lora_name: [loras.filter((_, i) => (i + index) % 4 !== 0)], strength_model: ['FLOAT', {}] } } };
  all.KSampler = { input: { required: { sampler_name: [['euler', 'ddim']], seed: ['INT', {}] } } };
  return all;
}

function workflow(index: number): Graph {
  const graph: Record<string, { class_type: string; inputs: Record<string, unknown> }> = {
    '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: checkpoints[index % checkpoints.length] } },
    '2': { class_type: 'LoraLoader', inputs: { lora_name: loras[index % loras.length], strength_model: 1, model: ['1', 0] } },
    '3': { class_type: 'KSampler', inputs: { sampler_name: 'euler', seed: index, model: ['2', 0] } },
  };
  for (let n = 4; n <= 10; n += 1) graph[String(n)] = { class_type: baseClasses[(index * 7 + n) % baseClasses.length]!, inputs: { value: n, prev: [String(n - 1), 0] } };
  return graph as unknown as Graph;
}

async function main(): Promise<void> {
  const backends = Array.from({ length: BACKENDS }, (_, i) => {
    const info = objectInfo(i);
    return {
      name: `gpu-${i}`,
      up: true,
      weight: 1,
      queueRemaining: i % 5,
      lastError: null as string | null,
      http: { json: async () => ({ status: 200, body: info }) },
    } as unknown as BackendConnection;
  });
  const store = new CapabilityStore(pino({ level: 'silent' }), 0);
  for (const backend of backends) await store.refresh(backend, true);
  const choice = new BackendChoice(backends, store, new Map(), {}, { enabled: true, maxQueueImbalance: 2 });
  const graphs = Array.from({ length: WORKFLOWS }, (_, i) => workflow(i));
  // Affinity state as after a while of traffic: each backend last ran some workflow's models.
  for (const [i, backend] of backends.entries()) choice.submitted(backend.name, choice.needs({ graph: graphs[(i * 3) % WORKFLOWS]! }));

  const time = (pick: (i: number) => unknown): number => {
    const started = process.hrtime.bigint();
    for (let i = 0; i < PICKS; i += 1) pick(i);
    return Number(process.hrtime.bigint() - started) / 1000 / PICKS;
  };
  let picked = 0;
  const capable: number[] = [];
  const blind: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    capable.push(time((i) => {
      const name = choice.pick({ graph: graphs[i % WORKFLOWS]!, workflow: `w${i % WORKFLOWS}` });
      if (name !== undefined) picked += 1;
    }));
    blind.push(time(() => choice.pick()));
  }
  console.log(JSON.stringify({ backends: BACKENDS, workflows: WORKFLOWS, capableUs: round(median(capable), 2), blindUs: round(median(blind), 2), picked: picked / ROUNDS / PICKS }));
}

await main();
