/**
 * The bridge of the P3 fan-out benchmark, in its own process: the real storage (in memory),
 * generations, generate and ws plugins, with the synthetic transport in place of ComfyUI. Driven
 * over the IPC channel by bench/p3-fanout.ts:
 *   {cmd: 'start', clients}   → `started` for clients 0..N-1 (each generation goes running)
 *   {cmd: 'progress', rounds} → rounds of one `progress` per generation, each advancing the step so
 *                               every event changes the percent (a frame), then `completed` for all;
 *                               answers the emission stamp of every progress event. With
 *                               `intervalMs`, rounds are paced (latency below saturation).
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { importBridge } from '../lib/bridge-code.js';
import { withLoopDelay, type LoopDelay } from './loop-delay.js';
import { monotonicMs, SyntheticTransport, syntheticTransportPlugin } from './synthetic-transport.js';
import { scratchDir } from '../lib/scratch.js';

/** EmptyImage → SaveImage: two nodes run, so a step of node 1 out of `rounds` moves the percent by 50/rounds. */
const WORKFLOW = {
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 }, _meta: { title: 'Empty Image' } },
  '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'c0' }, _meta: { title: 'Save Image', apiinput: 'filename_prefix' } },
};

export type FanoutCommand = { cmd: 'start'; clients: number } | { cmd: 'progress'; clients: number; rounds: number; /** Pause between rounds; 0: the next round as soon as the event loop is free. */ intervalMs?: number };

export interface StartedAnswer {
  cmd: 'started';
}

export interface ProgressAnswer {
  cmd: 'progressed';
  /** Emission time (monotonicMs) of client i's step s (1-based) at [i * rounds + s - 1]. */
  stamps: number[];
  /** From the first progress event to the end of the last round's synchronous work (frames written to sockets). */
  bridgeMs: number;
  /** CPU time of this process over the same span. */
  cpuMs: number;
  /** Event-loop delay over the same span (perf_hooks monitorEventLoopDelay, 5 ms resolution), in ms. */
  loopDelayMs?: LoopDelay;
}


const dir = await scratchDir('cb-bench-fanout-');
await writeFile(join(dir, 'fanout.json'), JSON.stringify(WORKFLOW));
const transport = new SyntheticTransport();
const { createApp } = await importBridge<typeof import('../../core/app.js')>('core/app');
const { loadConfig } = await importBridge<typeof import('../../cli/config/load.js')>('cli/config/load');
const config = await loadConfig({
  env: {},
  inline: {
    log: { level: 'silent' },
    server: { host: '127.0.0.1', port: 0 },
    dataDir: dir,
    plugins: {
      'storage-nedb': { inMemory: true },
      bus: {},
      workflows: { dir, watch: false },
      generations: {},
      // Own caps: every fan-out client has a live generation at once, far over the default queue bound.
      generate: { maxActive: 1_000_000, maxActivePerClient: 10_000 },
      results: {},
      metrics: {},
      // Generous idle time out: a run's sockets wait for the others to connect and submit.
      ws: { idleTimeoutMs: 600_000 },
    },
  },
});
const app = await createApp(config, { plugins: [syntheticTransportPlugin(transport)] });
const { url } = await app.start();

const tick = () => new Promise((resolve) => setImmediate(resolve));

function promptOf(index: number): string {
  const promptId = transport.prompts.get(index);
  if (promptId === undefined) throw new Error(`client ${index} has no prompt`);
  return promptId;
}

async function progress(clients: number, rounds: number, intervalMs = 0): Promise<ProgressAnswer> {
  const stamps = new Array<number>(clients * rounds);
  const prompts = Array.from({ length: clients }, (_, i) => promptOf(i));
  const cpu = process.cpuUsage();
  const started = monotonicMs();
  for (let step = 1; step <= rounds; step++) {
    for (let i = 0; i < clients; i++) {
      stamps[i * rounds + step - 1] = monotonicMs();
      transport.emit({ type: 'progress', promptId: prompts[i]!, backend: 'synthetic', node: '1', value: step, max: rounds });
    }
    // The generations service applies each event in a microtask and the ws plugin writes the frame
    // there; yielding to the event loop lets the sockets drain before the next round.
    await (intervalMs > 0 ? new Promise((resolve) => setTimeout(resolve, intervalMs)) : tick());
  }
  const bridgeMs = monotonicMs() - started;
  const used = process.cpuUsage(cpu);
  for (const promptId of prompts) transport.emit({ type: 'completed', promptId, backend: 'synthetic', outputs: [] });
  transport.prompts.clear();
  return { cmd: 'progressed', stamps, bridgeMs, cpuMs: (used.user + used.system) / 1000 };
}

process.on('message', (message: FanoutCommand) => {
  if (message.cmd === 'start') {
    for (let i = 0; i < message.clients; i++) transport.emit({ type: 'started', promptId: promptOf(i), backend: 'synthetic' });
    process.send!({ cmd: 'started' } satisfies StartedAnswer);
    return;
  }
  void withLoopDelay(() => progress(message.clients, message.rounds, message.intervalMs)).then((answer) => process.send!(answer));
});

process.stdout.write(`LISTENING ${url}\n`);
process.on('SIGTERM', () => {
  void app
    .close()
    .then(() => rm(dir, { recursive: true, force: true }))
    .then(() => process.exit(0));
});
