import { expect } from 'chai';
import type { FileHandle } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Generation } from '../contracts/generation.js';
import { isBridgeError, type BridgeError } from '../core/errors.js';
import type { AppenderIo } from '../plugins/storage-nedb/datafile-appender.js';
import { datafilePath, NedbStorage } from '../plugins/storage-nedb/nedb-storage.js';
import { numberedGenerations } from './helpers/generation.js';
import { datafileText } from './helpers/datafile.js';
import { mountSmallDisk, type SmallDisk } from './helpers/small-disk.js';

const quietLog = { warn: () => undefined, info: () => undefined };

/** Rows larger than a page, so a refused one cannot slip into the free end of the datafile's last page. */
const BIG_GRAPH = { '1': { class_type: 'CLIPTextEncode', inputs: { text: 'x'.repeat(6000) } } };
const makeGeneration = numberedGenerations({
  start: '2026-03-01T00:00:00.000Z',
  idPrefix: 'gen_full',
  defaults: { clientId: 'disk-client', state: 'queued', graph: BIG_GRAPH },
});

async function refusal(attempt: Promise<unknown>): Promise<BridgeError> {
  const error = await attempt.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error, 'the write was expected to be refused').to.not.equal(undefined);
  expect(isBridgeError(error), String(error)).to.equal(true);
  return error as BridgeError;
}

function expectStorageUnavailable(error: BridgeError): void {
  expect(error.status).to.equal(503);
  expect(error.code).to.equal('storage_unavailable');
  expect(error.headers['Retry-After']).to.match(/^\d+$/);
  // The client sees a sentence, never the raw system error.
  expect(error.detail).to.not.match(/ENOSPC|EIO\b|errno|\.db\b/);
}

/** Every id on a line of the datafile. */
async function idsInFile(dataDir: string): Promise<Set<string>> {
  const text = await datafileText(datafilePath(dataDir, 'generations'));
  const ids = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    // Every line is whole JSON: a refused batch is cut back, never left half written.
    const row = JSON.parse(line) as { _id?: string };
    if (row._id) ids.add(row._id);
  }
  return ids;
}

/**
 * What must hold whatever refused the write: the refused generation is nowhere (memory, counts,
 * history, the unfinished list the next start resubmits from), stays nowhere after the disk has
 * room again, a compaction and a close (which once wrote it at shutdown), and after a restart on
 * the same folder.
 */
async function refusedWritesLeaveNothing(dataDir: string, diskFull: { fill(): Promise<void>; free(): Promise<void> }, io?: AppenderIo): Promise<void> {
  const open = () => NedbStorage.open({ dataDir, inMemory: false, log: quietLog, io });
  let storage = await open();
  const kept: Generation[] = [makeGeneration(), makeGeneration(), makeGeneration()];
  for (const gen of kept) await storage.generations.insert(gen);
  const first = kept[0]!;

  await diskFull.fill();
  // The datafile's zeroed tail was written before the disk filled: rows that fit in it are still written
  // (and kept), the first that does not is refused.
  let refused: Generation | undefined;
  for (let tries = 0; refused === undefined; tries++) {
    expect(tries, 'a row is refused once the tail is used up').to.be.below(100);
    const gen = makeGeneration();
    const outcome = await storage.generations.insert(gen).then(
      () => undefined,
      (error: unknown) => error,
    );
    if (outcome === undefined) kept.push(gen);
    else {
      expect(isBridgeError(outcome), String(outcome)).to.equal(true);
      expectStorageUnavailable(outcome as BridgeError);
      refused = gen;
    }
  }
  // Concurrent writes share a batch: all of them are refused, none half-kept.
  const together = [makeGeneration(), makeGeneration()];
  const errors = await Promise.all(together.map((gen) => refusal(storage.generations.insert(gen))));
  errors.forEach(expectStorageUnavailable);
  // A refused state change leaves the row as it was.
  expectStorageUnavailable(await refusal(storage.generations.update(first.id, { state: 'running', percent: 40, graph: BIG_GRAPH })));

  const check = async (where: string): Promise<void> => {
    for (const gen of [refused, ...together]) expect(await storage.generations.get(gen.id), `${gen.id} ${where}`).to.equal(undefined);
    expect((await storage.generations.get(first.id))?.state, where).to.equal('queued');
    expect((await storage.generations.get(first.id))?.percent, where).to.equal(0);
    expect((await storage.generations.unfinished()).map((gen) => gen.id).sort(), where).to.deep.equal(kept.map((gen) => gen.id).sort());
    const counts = await storage.generations.counts();
    expect(counts.total, where).to.equal(kept.length);
    expect(counts.byState.queued, where).to.equal(kept.length);
    expect(counts.byState.running, where).to.equal(0);
    expect((await storage.generations.page({ limit: 100, offset: 0 })).total, where).to.equal(kept.length);
  };
  await check('while the disk is full');

  await diskFull.free();
  // Room again: a compaction (a rewrite of memory) and the next writes must not bring anything back.
  await storage.compact();
  const later = makeGeneration();
  await storage.generations.insert(later);
  kept.push(later);
  await storage.close();
  const ids = await idsInFile(dataDir);
  for (const gen of [refused, ...together]) expect(ids.has(gen.id), `${gen.id} in the datafile`).to.equal(false);

  storage = await open();
  try {
    expect((await storage.generations.get(later.id))?.state).to.equal('queued');
    for (const gen of [refused, ...together]) expect(await storage.generations.get(gen.id), `${gen.id} after restart`).to.equal(undefined);
    expect((await storage.generations.get(first.id))?.state).to.equal('queued');
    expect((await storage.generations.unfinished()).map((gen) => gen.id).sort()).to.deep.equal(kept.map((gen) => gen.id).sort());
    expect((await storage.generations.counts()).total).to.equal(kept.length);
  } finally {
    await storage.close();
  }
}

describe('storage-nedb on a full, failing or read-only disk', function () {
  this.timeout(20_000);

  describe('a real full disk (a 1 MiB tmpfs)', () => {
    let disk: SmallDisk;
    beforeEach(async () => {
      disk = await mountSmallDisk('1m');
    });
    afterEach(async () => {
      await disk.release();
    });

    it('refuses writes with 503 storage_unavailable and keeps nothing refused, across compaction, close and restart', async () => {
      await refusedWritesLeaveNothing(disk.dir, disk);
    });

    it('refuses to start on a read-only data dir with one line naming the dir (no stack of raw errors)', async () => {
      const storage = await NedbStorage.open({ dataDir: disk.dir, inMemory: false, log: quietLog });
      await storage.generations.insert(makeGeneration());
      await storage.close();
      await disk.readOnly();
      const failure = await NedbStorage.open({ dataDir: disk.dir, inMemory: false, log: quietLog }).then(
        () => undefined,
        (error: unknown) => error as Error,
      );
      expect(failure?.name).to.equal('BootError');
      expect(failure?.message).to.equal(`data dir ${join(disk.dir, 'db')} is on a read-only filesystem: the bridge needs to write its database there`);
    });
  });

  describe('an injected failure in the middle of a write', () => {
    let dataDir: string;
    beforeEach(async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'storage-eio-'));
    });
    afterEach(async () => {
      await rm(dataDir, { recursive: true, force: true });
    });

    it('cuts back a half-written batch (the next start reads only whole rows) and keeps nothing refused', async () => {
      let full = false;
      let failures = 0;
      // A disk that takes part of a write and then fails it, as a full or failing disk does.
      const io: AppenderIo = {
        async write(handle: FileHandle, data: Buffer, position: number) {
          if (!full) return (await handle.write(data, 0, data.length, position)).bytesWritten;
          failures++;
          if (data.length > 1) await handle.write(data, 0, Math.floor(data.length / 2), position);
          throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
        },
        datasync: (handle) => handle.datasync(),
      };
      await refusedWritesLeaveNothing(dataDir, { fill: async () => void (full = true), free: async () => void (full = false) }, io);
      expect(failures).to.be.greaterThan(0);
    });
  });
});
