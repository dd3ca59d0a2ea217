import { expect } from 'chai';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { readlinkSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { ANONYMOUS } from '../contracts/auth.js';
import { clientTopic, type ClientFrame } from '../contracts/client-frame.js';
import type { Graph } from '../contracts/graph.js';
import { DatafileAppender, type AppenderIo } from '../plugins/storage-nedb/datafile-appender.js';
import { datafilePath, NedbStorage } from '../plugins/storage-nedb/nedb-storage.js';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { probePlugin, type Probe } from './generations-stub-transport.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { datafileText } from './helpers/datafile.js';
import { generationRecord } from './helpers/generation.js';
import { until } from './helpers/until.js';

const quietLog = { warn: () => undefined, info: () => undefined };

/**
 * An appender io whose fdatasyncs are counted and, while `hold` is set, held until released. `only`: of that
 * datafile alone (the other collections of a store sync lines of their own at open, on their own schedule).
 */
function countingIo(only?: string) {
  const held: (() => void)[] = [];
  const state = { syncs: 0, hold: false, held };
  const io: AppenderIo = {
    write: (handle, data, position) => Promise.resolve(writeSync(handle.fd, data, 0, data.length, position)),
    datasync: (handle) => {
      if (only !== undefined && basename(readlinkSync(`/proc/self/fd/${handle.fd}`)) !== only) return handle.datasync();
      state.syncs += 1;
      if (!state.hold) return handle.datasync();
      return new Promise<void>((resolve, reject) => held.push(() => void handle.datasync().then(resolve, reject)));
    },
  };
  return { io, state };
}

/**
 * Lazy writes (GenerationWriteOptions.lazy): `running` and progress rows resolve once their line is in the
 * datafile and reach the disk with the next durable write's fdatasync, one of their own a little later, or
 * at close; durable writes (an insert, an end) still resolve only once synced.
 */
describe('storage-nedb lazy writes', () => {
  let dataDir: string;
  const cleanups: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'storage-lazy-'));
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('resolves a lazy push once in the file, with no fdatasync; a later durable one covers it, so close has none left to make', async () => {
    const { io, state } = countingIo();
    const file = join(dataDir, 'lines.db');
    const appender = await DatafileAppender.open(file, 0o644, { sync: true, io, lazySyncMs: 60_000 });
    cleanups.push(() => appender.close());

    await appender.push('lazy-1\n', [], 1, false);
    expect(state.syncs, 'no fdatasync for a lazy push').to.equal(0);
    expect(await datafileText(file)).to.equal('lazy-1\n');

    state.hold = true;
    let durable = false;
    const pushed = appender.push('durable-1\n', [], 1).then(() => (durable = true));
    await until(() => state.held.length === 1, 'the durable batch to ask for its fdatasync');
    await new Promise((resolve) => setImmediate(resolve));
    expect(durable, 'a durable push waits for its fdatasync').to.equal(false);
    state.hold = false;
    state.held.shift()!();
    await pushed;
    expect(state.syncs).to.equal(1);

    // Everything written is covered by that fdatasync: closing syncs nothing more.
    await appender.close();
    expect(state.syncs).to.equal(1);
    expect(await datafileText(file)).to.equal('lazy-1\ndurable-1\n');
  });

  it('syncs lazy lines no durable write covered: on its own after the delay, and at close', async () => {
    const { io, state } = countingIo();
    const timed = await DatafileAppender.open(join(dataDir, 'timed.db'), 0o644, { sync: true, io, lazySyncMs: 5 });
    cleanups.push(() => timed.close());
    await timed.push('a\n', [], 1, false);
    await timed.push('b\n', [], 1, false);
    await until(() => state.syncs === 1, 'one fdatasync for the lazy lines');
    await timed.close();
    expect(state.syncs, 'nothing left to sync at close').to.equal(1);

    const counted = countingIo();
    const closing = await DatafileAppender.open(join(dataDir, 'closing.db'), 0o644, { sync: true, io: counted.io, lazySyncMs: 60_000 });
    await closing.push('c\n', [], 1, false);
    expect(counted.state.syncs).to.equal(0);
    await closing.close();
    expect(counted.state.syncs, 'close syncs the lazy line').to.equal(1);
    expect(await datafileText(join(dataDir, 'closing.db'))).to.equal('c\n');
  });

  it("a generation store's lazy write resolves while fdatasyncs are held and is read back after a restart; update still waits", async () => {
    const { io, state } = countingIo(basename(datafilePath(dataDir, 'generations')));
    const storage = await NedbStorage.open({ dataDir, inMemory: false, log: quietLog, io });
    cleanups.push(() => storage.close());
    const gen = generationRecord({ id: 'gen_lazy1', createdAt: new Date().toISOString(), promptId: 'p-lazy1', state: 'queued' });
    await storage.generations.insert(gen);
    const synced = state.syncs;

    state.hold = true;
    await storage.generations.write(gen.id, { state: 'running', percent: 10 }, { lazy: true });
    expect(state.syncs, 'the lazy write made no fdatasync').to.equal(synced);
    expect(await datafileText(datafilePath(dataDir, 'generations'))).to.match(/"state":"running"/);

    let ended = false;
    const end = storage.generations.write(gen.id, { state: 'completed', percent: 100 }).then(() => (ended = true));
    await until(() => state.held.length === 1, "the end's fdatasync");
    await new Promise((resolve) => setImmediate(resolve));
    expect(ended, 'a durable write waits for its fdatasync').to.equal(false);
    state.hold = false;
    state.held.shift()!();
    await end;
    await storage.close();
    cleanups.pop();

    const again = await NedbStorage.open({ dataDir, inMemory: false, log: quietLog });
    cleanups.push(() => again.close());
    expect((await again.generations.get(gen.id))?.state).to.equal('completed');
  });

  it("a generation's life syncs its insert and its end, not its running row, and closed still follows the end's fdatasync", async function () {
    this.timeout(20_000);
    const fake: FakeComfy = await startFakeComfy({ nodeDurationMs: 0 });
    cleanups.push(() => fake.stop());
    const probe: Probe = {};
    const bridge: RunningBridge = await startBridge({
      plugins: { 'storage-nedb': {}, bus: {}, comfyui: { backends: [{ url: fake.url, name: 'fake' }], requestTimeoutMs: 5000 }, generations: {}, results: {} },
      extraPlugins: [probePlugin(probe)],
      config: { dataDir },
    });
    cleanups.push(() => bridge.close());
    await until(() => probe.transport!.pickBackend(), 'the fake backend to be up');
    const steps: string[] = [];
    const onMark = (step: unknown) => steps.push(String(step));
    subscribe('comfy-bridge:life', onMark);
    cleanups.push(() => Promise.resolve(void unsubscribe('comfy-bridge:life', onMark)));
    probe.bus!.subscribe<ClientFrame>(clientTopic('client-lazy'), ({ payload }) => void (payload.status === 'closed' && steps.push('frame: closed')));

    const graph: Graph = {
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 6, batch_size: 1, color: 3 } },
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'lazy' } },
    };
    const gen = await probe.generations!.create({ workflow: 'test', clientId: 'client-lazy', principal: ANONYMOUS, graph, uploads: {} });
    await until(() => steps.includes('frame: closed'), 'the closed frame');
    expect((await probe.generations!.get(gen.id))?.state).to.equal('completed');

    const running = steps.indexOf('row write: running');
    const runningDone = steps.indexOf('row written: running');
    expect(running, steps.join(' → ')).to.be.at.least(0);
    expect(runningDone, steps.join(' → ')).to.be.above(running);
    const during = steps.slice(running, runningDone);
    expect(during, 'the running row went into the file').to.include('append: pwrite generations.db');
    expect(during, 'with no fdatasync of its own').to.not.include('append: fdatasync generations.db');
    const end = steps.indexOf('row write: completed');
    expect(end).to.be.above(runningDone);
    const afterEnd = steps.slice(end);
    expect(afterEnd.indexOf('append: synced generations.db'), afterEnd.join(' → ')).to.be.at.least(0);
    expect(afterEnd.indexOf('append: synced generations.db')).to.be.below(afterEnd.indexOf('frame: closed'));
  });
});
