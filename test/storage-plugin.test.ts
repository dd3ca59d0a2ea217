import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Generation } from '../contracts/generation.js';
import type { Storage } from '../contracts/storage.js';
import { lockPath, NedbStorage } from '../plugins/storage-nedb/nedb-storage.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { grabbing } from './helpers/fixture-plugins.js';
import { generationRecord } from './helpers/generation.js';

const quietLog = { warn: () => undefined, info: () => undefined };

function makeGeneration(id: string, createdAt: string, state: Generation['state']): Generation {
  return generationRecord({ id, createdAt, clientId: 'c', workflow: 'wf', state });
}

const storageProbe = (holder: { storage?: Storage }) => grabbing('storage-probe', ['storage'], holder);

describe('storage-nedb plugin', () => {
  let dataDir: string;
  let bridge: RunningBridge | undefined;

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'storage-plugin-'));
  });

  afterEach(async () => {
    await bridge?.close();
    bridge = undefined;
    await rm(dataDir, { recursive: true, force: true });
  });

  it('provides storage, holds the lock while running and releases it on close', async () => {
    const holder: { storage?: Storage } = {};
    bridge = await startBridge({ plugins: { 'storage-nedb': {} }, config: { dataDir }, extraPlugins: [storageProbe(holder)] });
    expect(holder.storage?.isOpen()).to.equal(true);
    expect(existsSync(lockPath(dataDir))).to.equal(true);
    await bridge.close();
    bridge = undefined;
    expect(holder.storage?.isOpen()).to.equal(false);
    expect(existsSync(lockPath(dataDir))).to.equal(false);
  });

  it('a second bridge on the same data dir fails to start with a BootError naming the dir and pid', async () => {
    bridge = await startBridge({ plugins: { 'storage-nedb': {} }, config: { dataDir } });
    let failure: unknown;
    await startBridge({ plugins: { 'storage-nedb': {} }, config: { dataDir } }).catch((error: unknown) => (failure = error));
    expect((failure as Error).name).to.equal('BootError');
    expect((failure as Error).message).to.include(dataDir).and.include(`pid ${process.pid}`);
    // The failed start must not have taken the running bridge's lock away.
    expect(existsSync(lockPath(dataDir))).to.equal(true);
  });

  /** Old and recent generations in a fresh store, each with a result folder; the bridge then starts with retention on. */
  async function seedAndStart(plugins: Record<string, unknown>, generations: Generation[]): Promise<Storage> {
    const seed = await NedbStorage.open({ dataDir, inMemory: false, log: quietLog });
    for (const gen of generations) {
      await seed.generations.insert(gen);
      await mkdir(join(dataDir, 'results', gen.id), { recursive: true });
      await writeFile(join(dataDir, 'results', gen.id, 'out.png'), 'x');
    }
    await seed.close();
    const holder: { storage?: Storage } = {};
    bridge = await startBridge({ plugins: { 'storage-nedb': { retention: { maxAgeDays: 30 } }, ...plugins }, config: { dataDir }, extraPlugins: [storageProbe(holder)] });
    return holder.storage as Storage;
  }

  it('applies retention at start: old finished rows go, their result folders through the results service; counts stay', async () => {
    const old = makeGeneration('gen_old', '2020-01-01T00:00:00.000Z', 'completed');
    const oldQueued = makeGeneration('gen_oldq', '2020-01-02T00:00:00.000Z', 'queued');
    const recent = makeGeneration('gen_new', new Date().toISOString(), 'completed');
    // An id that is no safe folder name: the results service refuses it, and the others are still removed.
    await mkdir(join(dataDir, 'precious'), { recursive: true });
    const odd = makeGeneration('../precious', '2020-01-03T00:00:00.000Z', 'completed');
    const { generations } = await seedAndStart({ results: {} }, [old, oldQueued, recent, odd]);

    expect(await generations.get(old.id)).to.equal(undefined);
    expect(await generations.get(odd.id)).to.equal(undefined);
    expect(existsSync(join(dataDir, 'results', old.id))).to.equal(false);
    expect(existsSync(join(dataDir, 'precious'))).to.equal(true);
    expect((await generations.get(oldQueued.id))?.state).to.equal('queued');
    expect(existsSync(join(dataDir, 'results', recent.id, 'out.png'))).to.equal(true);
    expect((await generations.counts()).total).to.equal(4);
  });

  it('without the results plugin, retention still prunes the rows and leaves the files alone', async () => {
    const old = makeGeneration('gen_old', '2020-01-01T00:00:00.000Z', 'completed');
    const recent = makeGeneration('gen_new', new Date().toISOString(), 'completed');
    const { generations } = await seedAndStart({}, [old, recent]);

    expect(bridge?.app.plugins).to.not.include('results');
    expect(await generations.get(old.id)).to.equal(undefined);
    expect((await generations.get(recent.id))?.state).to.equal('completed');
    expect(existsSync(join(dataDir, 'results', old.id, 'out.png'))).to.equal(true);
  });

  it('rejects an unknown option, naming the plugin and the key', async () => {
    let failure: unknown;
    await startBridge({ plugins: { 'storage-nedb': { inMemory: true, retention: { maxDays: 3 } } } }).catch((error: unknown) => (failure = error));
    expect((failure as Error).message).to.include('storage-nedb').and.include('maxDays');
  });
});
