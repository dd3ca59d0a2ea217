import { expect } from 'chai';
import { writeSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BridgeError } from '../core/errors.js';
import { DatafileAppender, type AppenderIo } from '../plugins/storage-nedb/datafile-appender.js';
import { readDatafileAt } from '../plugins/storage-nedb/datafile-load.js';
import { TAIL_MIN_BYTES } from '../plugins/storage-nedb/datafile-tail.js';
import { datafilePath } from '../plugins/storage-nedb/nedb-storage.js';
import { appendToDatafile, datafileText } from './helpers/datafile.js';
import { numberedGenerations } from './helpers/generation.js';
import { nedbStoresPerTest } from './helpers/nedb-stores.js';
import { killWriterChild } from './helpers/nedb-writer-kill.js';

const makeGeneration = numberedGenerations({ start: '2026-05-01T00:00:00.000Z', idPrefix: 'gen_tail', defaults: { state: 'queued' } });

const sizeOf = async (file: string): Promise<number> => (await stat(file)).size;
const zeros = (n: number): Buffer => Buffer.alloc(n);
/** Every byte of the file from `from` on is zero. */
const zeroFrom = async (file: string, from: number): Promise<boolean> => (await readFile(file)).subarray(from).every((byte) => byte === 0);

/** The datafile's zeroed tail (plugins/storage-nedb/datafile-tail.ts): lines are written into zeros already on the disk. */
describe('storage-nedb: the datafile ends in a zeroed tail', function () {
  this.timeout(30_000);
  let dir: string;
  const { open, close } = nedbStoresPerTest('nedb-tail-', (made) => (dir = made));

  it('loads the lines before the first NUL and reports where they end, whatever the block size', async () => {
    const file = join(dir, 'tail.db');
    const text = '{"_id":"a","n":1}\n{"_id":"b","n":2}\n{"_id":"a","n":3}\n';
    await writeFile(file, Buffer.concat([Buffer.from(text), zeros(5000)]));
    for (const block of [7, 16, 64, 1 << 20]) {
      const loaded = await readDatafileAt(file, 0, undefined, undefined, block);
      expect(loaded.data, `block ${block}`).to.deep.equal([{ _id: 'a', n: 3 }, { _id: 'b', n: 2 }]);
      expect(loaded.end, `block ${block}`).to.equal(text.length);
    }
    // Without a tail (an older file), as before: the end is the file's length.
    await writeFile(file, text);
    expect((await readDatafileAt(file, 0)).end).to.equal(text.length);
  });

  it('stops at the first NUL: a line cut by a hole a power loss left, and what follows it, are not read, and zeroed at open', async () => {
    const file = join(dir, 'hole.db');
    // Lazy lines never synced: the page holding the end of "b" did not reach the disk, a later one did.
    await writeFile(file, Buffer.concat([Buffer.from('{"_id":"a"}\n{"_id":"b","x'), zeros(300), Buffer.from('{"_id":"c"}\n'), zeros(3000)]));
    const loaded = await readDatafileAt(file, 0);
    expect(loaded.data).to.deep.equal([{ _id: 'a' }]);
    expect(loaded.end).to.equal(12);
    const appender = await DatafileAppender.open(file, 0o644, { sync: true }, loaded.end);
    // "c" must not be read after the next line: it is zeroed before anything is written.
    expect(await readFile(file, 'utf8')).to.not.include('"c"');
    await appender.push('{"_id":"d"}\n', [], 1);
    await appender.close();
    expect(await datafileText(file)).to.equal('{"_id":"a"}\n{"_id":"d"}\n');
    expect((await readDatafileAt(file, 0)).data).to.deep.equal([{ _id: 'a' }, { _id: 'd' }]);
  });

  it('gives a datafile of an older version (no tail) one at open, then writes into it without changing the file size', async () => {
    const file = join(dir, 'old.db');
    const old = '{"_id":"a"}\n{"_id":"b"}\n';
    await writeFile(file, old);
    const appender = await DatafileAppender.open(file, 0o644, { sync: true });
    expect(appender.size).to.equal(old.length);
    expect(await sizeOf(file)).to.equal(old.length + TAIL_MIN_BYTES);
    expect(await zeroFrom(file, old.length)).to.equal(true);
    for (let i = 0; i < 20; i++) await appender.push(`{"_id":"n${i}"}\n`, [], 1);
    // Every batch went into the zeros: the file's length (what an fdatasync would have to commit) never changed.
    expect(await sizeOf(file)).to.equal(old.length + TAIL_MIN_BYTES);
    expect(appender.size).to.equal(Buffer.byteLength(await datafileText(file)));
    await appender.close();
    const loaded = await readDatafileAt(file, 0);
    expect(loaded.data.map((row) => row._id)).to.deep.equal(['a', 'b', ...Array.from({ length: 20 }, (_, i) => `n${i}`)]);

    // Reopened: the tail is found again (the last byte that is not zero), nothing added.
    const again = await DatafileAppender.open(file, 0o644, { sync: true });
    expect(again.size).to.equal(loaded.end);
    expect(await sizeOf(file)).to.equal(old.length + TAIL_MIN_BYTES);
    await again.close();
  });

  it('extends the tail before it runs out, and appends a batch longer than the tail past it', async () => {
    const file = join(dir, 'grow.db');
    const appender = await DatafileAppender.open(file, 0o644, { sync: true });
    expect(appender.tailBytes).to.equal(TAIL_MIN_BYTES);
    const line = `${JSON.stringify({ _id: 'x', pad: 'p'.repeat(1000) })}\n`;
    // Over half the tail used: an extension follows, beside the batches.
    for (let i = 0; i < 40; i++) await appender.push(line, [], 1);
    await appender.settled();
    await appender.close();
    expect(await sizeOf(file)).to.equal(2 * TAIL_MIN_BYTES);

    const big = await DatafileAppender.open(file, 0o644, { sync: true });
    const start = big.size;
    const long = `${JSON.stringify({ _id: 'y', pad: 'q'.repeat(3 * TAIL_MIN_BYTES) })}\n`;
    await big.push(long, [], 1);
    expect(big.size).to.equal(start + long.length);
    await big.close();
    const loaded = await readDatafileAt(file, 0);
    expect(loaded.data.map((row) => row._id)).to.deep.equal(['x', 'y']);
    expect(loaded.end).to.equal(start + long.length);
    // The file was given a new tail after the long line.
    expect(await sizeOf(file)).to.be.greaterThan(loaded.end);
    expect(await zeroFrom(file, loaded.end)).to.equal(true);
  });

  it('puts zeros back where a refused batch was written into the tail: a reload shows none of its lines', async () => {
    const file = join(dir, 'refused.db');
    let fail = false;
    // The write lands in the file; its fdatasync then fails (EIO), as a failing disk does.
    const io: AppenderIo = {
      write: (handle, data, position) => Promise.resolve(writeSync(handle.fd, data, 0, data.length, position)),
      datasync: (handle) => (fail ? Promise.reject(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })) : handle.datasync()),
    };
    const appender = await DatafileAppender.open(file, 0o644, { sync: true, io });
    await appender.push('{"_id":"kept"}\n', [], 1);
    const length = await sizeOf(file);
    fail = true;
    let undone = 0;
    const refused = appender.push('{"_id":"refused-1"}\n{"_id":"refused-2"}\n', [() => undone++], 2);
    expect(((await refused.catch((error: unknown) => error)) as BridgeError).code).to.equal('storage_unavailable');
    expect(undone).to.equal(1);
    // Nothing of it is left, not even past the lines: the bytes are zeros again, the tail as long as it was.
    expect(await readFile(file, 'utf8')).to.not.include('refused');
    expect(await sizeOf(file)).to.equal(length);
    expect(await zeroFrom(file, appender.size)).to.equal(true);
    expect((await readDatafileAt(file, 0)).data).to.deep.equal([{ _id: 'kept' }]);
    // The next batch goes where the refused one was.
    fail = false;
    await appender.push('{"_id":"next"}\n', [], 1);
    await appender.close();
    expect(await datafileText(file)).to.equal('{"_id":"kept"}\n{"_id":"next"}\n');
  });

  it('a compaction writes the new file with its own tail, and the store keeps writing into it', async () => {
    let storage = await open();
    const gen = makeGeneration();
    await storage.generations.insert(gen);
    for (let i = 1; i <= 30; i++) await storage.generations.update(gen.id, { percent: i });
    const file = datafilePath(dir, 'generations');
    expect(await storage.compact()).to.include('generations');
    const lines = Buffer.byteLength(await datafileText(file));
    expect((await datafileText(file)).split('\n').filter((line) => line.includes(gen.id))).to.have.length(1);
    expect(await sizeOf(file)).to.equal(lines + TAIL_MIN_BYTES);
    expect(await zeroFrom(file, lines)).to.equal(true);
    await storage.generations.update(gen.id, { state: 'completed', percent: 100 });
    expect(await sizeOf(file), 'written into the tail').to.equal(lines + TAIL_MIN_BYTES);
    await close(storage);
    storage = await open();
    expect((await storage.generations.get(gen.id))?.state).to.equal('completed');
  });

  it('a line cut before the tail is dropped at start (with the tail), and the store writes a new tail after its last row', async () => {
    let storage = await open();
    const kept = makeGeneration();
    await storage.generations.insert(kept);
    await close(storage);
    const file = datafilePath(dir, 'generations');
    await appendToDatafile(file, '{"_id":"gen_cut","state":"que');
    const warnings: unknown[] = [];
    storage = await open({ log: { warn: (fields: unknown) => void warnings.push(fields), info: () => undefined } });
    expect(warnings).to.deep.equal([{ file, droppedBytes: 29 }]);
    const lines = Buffer.byteLength(await datafileText(file));
    expect(await sizeOf(file)).to.equal(lines + TAIL_MIN_BYTES);
    const next = makeGeneration();
    await storage.generations.insert(next);
    await close(storage);
    storage = await open();
    expect((await storage.generations.get(kept.id))?.id).to.equal(kept.id);
    expect((await storage.generations.get(next.id))?.id).to.equal(next.id);
    expect(await storage.generations.get('gen_cut')).to.equal(undefined);
  });

  it('keeps every acknowledged row after a SIGKILL while rows are written into the tail (a real child process)', async () => {
    for (const killAt of [15, 33]) {
      const { lastQueued } = await killWriterChild(dir, [], killAt);
      const file = datafilePath(dir, 'generations');
      const lines = Buffer.byteLength(await datafileText(file));
      // Killed with a tail in place: the lines end before the file does, and only zeros follow them.
      expect(await sizeOf(file)).to.be.greaterThan(lines);
      expect(await zeroFrom(file, lines)).to.equal(true);
      const storage = await open();
      expect(await storage.generations.get(`kill_${lastQueued}`), `kill_${lastQueued} (killed at line ${killAt})`).to.not.equal(undefined);
      await close(storage);
    }
  });
});
