import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { GenerationCounts, Storage } from '../contracts/storage.js';
import { definePlugin, type PluginManifest } from '../core/plugin.js';
import { toDoc } from '../plugins/storage-nedb/generation-store.js';
import { datafilePath, NedbStorage } from '../plugins/storage-nedb/nedb-storage.js';
import { datafileText } from './helpers/datafile.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { numberedGenerations } from './helpers/generation.js';

const quietLog = { warn: () => undefined, info: () => undefined };
const ROWS = 5000;

const makeGeneration = numberedGenerations({
  start: '2026-02-01T00:00:00.000Z',
  idPrefix: 'gen_l',
  idDigits: 6,
  defaults: { clientId: 'load-client', state: 'completed', percent: 100 },
});

/** A data dir holding `rows` finished generations, written as the store lays them out. */
async function seed(dataDir: string, rows: number): Promise<void> {
  await mkdir(join(dataDir, 'db'), { recursive: true });
  let lines = '';
  for (let i = 0; i < rows; i++) lines += `${JSON.stringify(toDoc(makeGeneration()))}\n`;
  await writeFile(datafilePath(dataDir, 'generations'), lines);
}

const countRows = async (file: string): Promise<number> => (await readFile(file, 'utf8')).split('\n').filter((line) => line.includes('"_id"')).length;

describe('storage-nedb load and close', function () {
  this.timeout(30_000);
  let dataDir: string;
  let bridge: RunningBridge | undefined;

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'storage-load-'));
  });
  afterEach(async () => {
    await bridge?.close();
    bridge = undefined;
    await rm(dataDir, { recursive: true, force: true });
  });

  it("register returns before the rows are loaded (no register deadline on the load); the ready step waits for them", async () => {
    await seed(dataDir, ROWS);
    const seen: { openAtRegister?: boolean; sizeAtRegister?: number; counts?: Promise<GenerationCounts>; storage?: Storage } = {};
    // Registered right after storage-nedb: sees the storage as register() left it.
    const probe = definePlugin({
      name: 'load-probe',
      dependencies: ['storage'],
      register(ctx) {
        const storage = ctx.use('storage');
        seen.storage = storage;
        seen.openAtRegister = storage.isOpen();
        seen.sizeAtRegister = (storage.generations as unknown as { size: number }).size;
        // A call made while loading waits for the load and then answers from the whole store.
        seen.counts = storage.generations.counts();
      },
    }) as PluginManifest<never>;
    bridge = await startBridge({ plugins: { 'storage-nedb': {} }, config: { dataDir }, extraPlugins: [probe] });
    expect(seen.openAtRegister).to.equal(false);
    expect(seen.sizeAtRegister).to.equal(0);
    expect(seen.storage?.isOpen()).to.equal(true);
    expect((await seen.counts!).total).to.equal(ROWS);
    expect((await seen.storage!.generations.page({ limit: 1, offset: 0 })).total).to.equal(ROWS);
  });

  it('logs the progress of a long load and how long it took', async () => {
    await seed(dataDir, ROWS);
    const lines: { fields: Record<string, unknown>; message: string }[] = [];
    const log = { warn: () => undefined, info: (fields: Record<string, unknown>, message: string) => void lines.push({ fields, message }) };
    const storage = await NedbStorage.open({ dataDir, inMemory: false, log: log as unknown as Pick<Logger, 'info' | 'warn'>, progressEveryMs: 0 });
    try {
      const progress = lines.filter((line) => line.message.startsWith('loading generations:'));
      expect(progress.length).to.be.greaterThan(0);
      // The lines it read (the file has a zeroed tail since it was opened).
      const bytes = Buffer.byteLength(await datafileText(datafilePath(dataDir, 'generations')));
      expect(progress.at(-1)!.fields.bytes).to.equal(bytes);
      expect(progress.at(-1)!.fields.bytesRead).to.be.at.most(bytes);
      expect(lines.some((line) => /^loaded generations \(\d+ MiB\) in [\d.]+ s$/.test(line.message))).to.equal(true);
      expect(storage.generations.size).to.equal(ROWS);
    } finally {
      await storage.close();
    }
  });

  it('close writes what is queued and compacts nothing; compaction runs once a file has doubled', async () => {
    const storage = await NedbStorage.open({ dataDir, inMemory: false, log: quietLog });
    const file = datafilePath(dataDir, 'generations');
    const gen = makeGeneration({ state: 'running', percent: 0 });
    await storage.generations.insert(gen);
    const updates = Array.from({ length: 30 }, (_, i) => storage.generations.update(gen.id, { percent: i + 1 }));
    // Close right away: the queued updates are written, the file is not rewritten.
    const closing = storage.close();
    await Promise.all(updates);
    await closing;
    expect(await countRows(file)).to.equal(31);

    const again = await NedbStorage.open({ dataDir, inMemory: false, log: quietLog });
    try {
      expect((await again.generations.get(gen.id))?.percent).to.equal(30);
      // Grown by less than 1 MiB since the open: the scheduled compaction leaves it alone.
      expect(await again.compact({ onlyIfGrown: true })).to.deep.equal([]);
      expect(await countRows(file)).to.equal(31);
      expect(await again.compact()).to.include('generations');
      expect(await countRows(file)).to.equal(1);
    } finally {
      await again.close();
    }
  });

  it('keeps writes made during a compaction, and a close during one leaves a whole datafile', async () => {
    await seed(dataDir, ROWS);
    const storage = await NedbStorage.open({ dataDir, inMemory: false, log: quietLog });
    const during = Array.from({ length: 50 }, () => makeGeneration({ state: 'queued' }));
    const compacting = storage.compact();
    await Promise.all(during.map((gen) => storage.generations.insert(gen)));
    await compacting;
    const more = Array.from({ length: 20 }, () => makeGeneration({ state: 'queued' }));
    const compactingAgain = storage.compact();
    const inserting = Promise.all(more.map((gen) => storage.generations.insert(gen)));
    await storage.close();
    await inserting;
    await compactingAgain.catch(() => undefined);
    expect(existsSync(`${datafilePath(dataDir, 'generations')}~`)).to.equal(false);

    const again = await NedbStorage.open({ dataDir, inMemory: false, log: quietLog });
    try {
      expect(again.generations.size).to.equal(ROWS + 70);
      for (const gen of [...during, ...more]) expect((await again.generations.get(gen.id))?.state, gen.id).to.equal('queued');
      expect(await countRows(datafilePath(dataDir, 'generations'))).to.be.at.least(ROWS + 70);
    } finally {
      await again.close();
    }
  });
});
