/**
 * How fast the bridge notices a frozen or dead ComfyUI and moves its prompts, with the comfyui
 * plugin's default deadlines (issue 17, items 6 and 9). Real failures: the fake ComfyUI in its own
 * process (SIGSTOP, SIGKILL) and a real refusing port. `npx tsx bench/failover.ts` prints JSON;
 * the figures are written by hand into docs/performance.md ("Failover").
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ANONYMOUS } from '../contracts/auth.js';
import { clientTopic, type ClientFrame } from '../contracts/client-frame.js';
import type { Graph } from '../contracts/graph.js';
import { startFakeComfy } from '../test/fake-comfyui/index.js';
import { probePlugin, type Probe } from '../test/generations-stub-transport.js';
import { startBridge, type RunningBridge } from '../test/helpers/bridge.js';
import { Door } from '../test/helpers/door.js';
import { FakeComfyProcess } from '../test/helpers/fake-comfy-process.js';
import { until } from '../test/helpers/until.js';
import { median, round } from './lib/stats.js';
import { scratchDir } from './lib/scratch.js';

const sleepy = (color: number): Graph => ({
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 6, batch_size: 1, color } },
  '2': { class_type: 'TestSleep', inputs: { value: ['1', 0], seconds: 1 } },
  '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'bench' } },
});

async function bridgeOver(backends: { url: string; name: string; weight?: number }[]): Promise<{ bridge: RunningBridge; probe: Probe; close: () => Promise<void> }> {
  const dir = await scratchDir('bench-failover-');
  await writeFile(join(dir, 'sleepy.json'), JSON.stringify(sleepy(0)));
  const probe: Probe = {};
  const bridge = await startBridge({
    plugins: {
      'storage-nedb': { inMemory: true },
      bus: {},
      comfyui: { backends },
      workflows: { dir, watch: false },
      generations: {},
      results: {},
      generate: {},
    },
    extraPlugins: [probePlugin(probe)],
  });
  await until(() => probe.transport!.backends().every((b) => b.up), 'backends up', 15_000);
  return { bridge, probe, close: async () => (await bridge.close(), await rm(dir, { recursive: true, force: true })) };
}

const generate = (bridge: RunningBridge, clientId: string) =>
  fetch(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ workflow: 'sleepy' }) });

/** SIGSTOP → marked down; a generate sent at the freeze → its 503; one sent after → its 503; SIGCONT → up again. */
async function frozen(): Promise<Record<string, number>> {
  const comfy = new FakeComfyProcess({ nodeDurationMs: 5, durations: { TestSleep: 1000 } });
  await comfy.start();
  const { bridge, probe, close } = await bridgeOver([{ url: comfy.url, name: 'frozen' }]);
  try {
    const t0 = Date.now();
    comfy.freeze();
    const early = generate(bridge, 'early').then((res) => ({ status: res.status, ms: Date.now() - t0 }));
    await until(() => !probe.transport!.backends()[0]!.up, 'down', 30_000);
    const detectMs = Date.now() - t0;
    const earlyAnswer = await early;
    const t1 = Date.now();
    const late = await generate(bridge, 'late');
    const lateMs = Date.now() - t1;
    if (earlyAnswer.status !== 503 || late.status !== 503) throw new Error(`expected 503s, got ${earlyAnswer.status} and ${late.status}`);
    const t2 = Date.now();
    comfy.thaw();
    await until(() => probe.transport!.backends()[0]!.up, 'up again', 60_000);
    return { detectMs, earlyGenerate503Ms: earlyAnswer.ms, lateGenerate503Ms: lateMs, upAfterThawMs: Date.now() - t2 };
  } finally {
    await close();
    await comfy.stop();
  }
}

/** A prompt queued behind another user's on a backend whose port starts refusing → on the healthy backend. */
async function refusedQueued(): Promise<Record<string, number>> {
  const slow = new FakeComfyProcess({ nodeDurationMs: 5, durations: { TestSleep: 15_000 } });
  await slow.start();
  const door = new Door(slow.port);
  await door.open();
  const healthy = await startFakeComfy({ nodeDurationMs: 5 });
  healthy.setNodeDuration('TestSleep', 6000);
  const occupy = (url: string) => fetch(`${url}/prompt`, { method: 'POST', body: JSON.stringify({ prompt: sleepy(9), client_id: 'other' }) });
  await occupy(slow.url);
  await occupy(healthy.url);
  const { probe, close } = await bridgeOver([
    { url: `http://127.0.0.1:${door.port}`, name: 'door', weight: 2 },
    { url: healthy.url, name: 'healthy' },
  ]);
  try {
    await until(() => probe.transport!.backends().every((b) => b.queueRemaining === 1), 'busy', 10_000);
    const gen = await probe.generations!.create({ workflow: 'sleepy', clientId: 'mover', principal: ANONYMOUS, graph: sleepy(1), uploads: {} });
    if (gen.backend !== 'door') throw new Error('the generation did not go behind the door');
    const t0 = Date.now();
    await door.close();
    await until(async () => (await probe.generations!.get(gen.id))?.backend === 'healthy', 'moved', 30_000);
    const moveMs = Date.now() - t0;
    const t1 = Date.now();
    await door.open();
    const old = gen.promptId;
    await until(async () => !(await slow.queued()).pending.includes(old), 'deleted from the old queue', 30_000);
    return { moveMs, deletedAfterReopenMs: Date.now() - t1 };
  } finally {
    await close();
    await door.close();
    await healthy.stop();
    await slow.stop();
  }
}

/** A running prompt whose backend process is SIGKILLed → the `backend lost, resubmitting` frame. */
async function runningLost(): Promise<Record<string, number>> {
  const doomed = new FakeComfyProcess({ nodeDurationMs: 5, durations: { TestSleep: 120_000 } });
  await doomed.start();
  const spare = await startFakeComfy({ nodeDurationMs: 5 });
  const { probe, close } = await bridgeOver([
    { url: doomed.url, name: 'doomed', weight: 2 },
    { url: spare.url, name: 'spare' },
  ]);
  try {
    const frames: { at: number; frame: ClientFrame }[] = [];
    probe.bus!.subscribe<ClientFrame>(clientTopic('victim'), ({ payload }) => void frames.push({ at: Date.now(), frame: payload }));
    const gen = await probe.generations!.create({ workflow: 'sleepy', clientId: 'victim', principal: ANONYMOUS, graph: sleepy(2), uploads: {} });
    await until(async () => (await probe.generations!.get(gen.id))?.state === 'running', 'running', 10_000);
    const t0 = Date.now();
    await doomed.kill();
    const notice = await until(() => frames.find((f) => f.frame.details.startsWith('backend lost, resubmitting')), 'the notice', 60_000);
    const end = (await probe.generations!.waitForEnd(gen.id, 60_000))!;
    if (end.state !== 'completed') throw new Error(`ended ${end.state}`);
    return { resubmitFrameMs: notice.at - t0, completedOnSpareMs: Date.now() - t0 };
  } finally {
    await close();
    await spare.stop();
    await doomed.stop();
  }
}

const runs = async (scenario: () => Promise<Record<string, number>>, times: number) => {
  const all: Record<string, number>[] = [];
  for (let i = 0; i < times; i += 1) all.push(await scenario());
  const keys = Object.keys(all[0] ?? {});
  return Object.fromEntries(keys.map((k) => [k, { median: round(median(all.map((r) => r[k]!)), 0), all: all.map((r) => r[k]) }]));
};

const result = {
  frozen: await runs(frozen, 3),
  refusedQueued: await runs(refusedQueued, 3),
  runningLost: await runs(runningLost, 1),
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
process.exit(0);
