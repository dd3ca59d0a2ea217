import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { closeSync, readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, open, readFile, realpath, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BytesLog } from '../contracts/directory-blob-store.js';
import type { Generation } from '../contracts/generation.js';
import { DirectoryBlobStore } from '../plugins/results/dir-blob-store.js';
import { restoreNamed } from '../plugins/results/log-replay.js';
import { ResultLog, type LoggedBlob } from '../plugins/results/result-log.js';
import { mountSmallDisk } from './helpers/small-disk.js';
import { until } from './helpers/until.js';

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const bytesOf = (length: number, seed: number): Buffer => Buffer.from(Array.from({ length }, (_, i) => (i * 31 + seed) % 251 || 1));

/** Rows as the storage would answer them: generation id → the result files (name, SHA-256) its row names. */
function rows(named: Record<string, { filename: string; bytes: Uint8Array }[]>): { get(id: string): Promise<Generation | undefined> } {
  return {
    get: async (id) => (named[id] ? ({ id, results: named[id]!.map(({ filename, bytes }) => ({ filename, sha256: sha256(bytes), size: bytes.length })) } as unknown as Generation) : undefined),
  };
}

/** The records a log holds, read as a replay reads them (nothing restored). */
async function recordsIn(path: string, capacity: number): Promise<LoggedBlob[]> {
  const seen: LoggedBlob[] = [];
  const log = new ResultLog(path, capacity);
  await log.open(async (blob) => (seen.push(blob), false));
  await log.close();
  return seen;
}

/** The descriptor this process holds open on `path`, if any. */
function descriptorOf(path: string): number | undefined {
  for (const entry of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${entry}`) === path) return Number(entry);
    } catch {
      // closed meanwhile (readdir's own descriptor)
    }
  }
  return undefined;
}

describe('results write-ahead log (real files)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'results-log-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('replays a record whose file was never synced into the file a row names, and only that one', async () => {
    const path = join(dir, 'results.wal');
    const log = new ResultLog(path, 64 * 1024);
    expect(await log.open(async () => true)).to.equal(0);
    expect((await stat(path)).size, 'zeros written ahead').to.equal(64 * 1024);
    const store = new DirectoryBlobStore(dir);
    const lost = bytesOf(9000, 1);
    const whole = bytesOf(300, 2);
    const unnamed = bytesOf(500, 3);
    const other = bytesOf(700, 4);
    // Appended and synced, never released: a process killed between the log's sync and the files'.
    for (const [key, bytes] of [['results/gen_a/lost.png', lost], ['results/gen_a/whole.png', whole], ['results/gen_b/unnamed.png', unnamed], ['results/gen_c/other.png', other]] as const) {
      expect(await log.append(key, bytes)).to.be.a('function');
    }
    await log.close();
    // What a power loss left: lost.png cut, whole.png whole, the others missing.
    await store.putBytes('results/gen_a/lost.png', lost.subarray(0, 4096));
    await store.putBytes('results/gen_a/whole.png', whole);

    const restoring = new DirectoryBlobStore(dir);
    const named = rows({ gen_a: [{ filename: 'lost.png', bytes: lost }, { filename: 'whole.png', bytes: whole }], gen_c: [{ filename: 'other.png', bytes: bytesOf(700, 5) }] });
    const again = new ResultLog(path, 64 * 1024);
    expect(await again.open(restoreNamed(named, restoring)), 'one file rewritten').to.equal(1);
    expect((await readFile(join(dir, 'results/gen_a/lost.png'))).equals(lost)).to.equal(true);
    expect((await readFile(join(dir, 'results/gen_a/whole.png'))).equals(whole)).to.equal(true);
    // No row names it (killed before its row), or the row names other bytes (copied again since): left alone.
    await Promise.all(['results/gen_b/unnamed.png', 'results/gen_c/other.png'].map(async (key) => expect(await restoring.stat(key), key).to.equal(undefined)));
    await again.close();
    expect(await recordsIn(path, 64 * 1024), 'zeroed after the replay').to.deep.equal([]);
    expect((await stat(path)).size).to.equal(64 * 1024);
  });

  it('ignores a torn last record (its CRC does not match, or it is cut short), keeping the whole ones before it', async () => {
    const path = join(dir, 'results.wal');
    const first = bytesOf(5000, 7);
    for (const tear of ['a flipped byte', 'zeros where its end should be'] as const) {
      const log = new ResultLog(path, 64 * 1024);
      await log.open(async () => false);
      await log.append('results/gen_t/first.png', first);
      const second = bytesOf(6000, 8);
      await log.append('results/gen_t/second.png', second);
      await log.close();
      // The second record starts on the next 4 KiB block after the first (16 + header + 5000 bytes: two blocks).
      const handle = await open(path, 'r+');
      if (tear === 'a flipped byte') await handle.write(Buffer.from([0xff ^ second[3000]!]), 0, 1, 8192 + 16 + 40 + 3000);
      else await handle.write(Buffer.alloc(3000), 0, 3000, 8192 + 3500);
      await handle.close();
      const records = await recordsIn(path, 64 * 1024);
      expect(records.map((r) => r.key), tear).to.deep.equal(['results/gen_t/first.png']);
      expect(records[0]!.bytes.equals(first)).to.equal(true);
    }
  });

  it('refuses a record it has no room for: the store syncs that file itself, and the log takes later ones again', async () => {
    const path = join(dir, 'results.wal');
    // Four segments of 4 KiB: one small record each.
    const log = new ResultLog(path, 16 * 1024);
    await log.open(async () => false);
    const answers: boolean[] = [];
    const counted: BytesLog = { append: async (key, bytes) => { const release = await log.append(key, bytes); answers.push(release !== undefined); return release; } };
    const store = new DirectoryBlobStore(dir, { log: counted });
    const large = bytesOf(6000, 9);
    await store.putBytes('results/gen_f/large.png', large);
    expect(answers, 'no room for 6000 bytes in a 4 KiB segment').to.deep.equal([false]);
    expect((await readFile(join(dir, 'results/gen_f/large.png'))).equals(large)).to.equal(true);
    // Records released once their files are synced: the four segments taken again and again.
    for (let i = 0; i < 12; i++) {
      await store.putBytes(`results/gen_f/small_${i}.png`, bytesOf(100, i));
      await store.settled();
    }
    expect(answers.slice(1), 'every small file through the log').to.deep.equal(Array(12).fill(true));
    // Four held at once (their files' syncs not made yet) fill it: the fifth is refused, then taken once they are released.
    const held: (() => void)[] = [];
    for (let i = 0; i < 4; i++) held.push((await log.append(`results/gen_h/${i}.png`, bytesOf(50, i)))!);
    expect(held.every((release) => typeof release === 'function')).to.equal(true);
    expect(await log.append('results/gen_h/4.png', bytesOf(50, 4)), 'full').to.equal(undefined);
    held[0]!();
    expect(await log.append('results/gen_h/4.png', bytesOf(50, 4)), 'a segment free again').to.be.a('function');
    await log.close();
  });

  it('writes a file whose own sync failed again from its bytes, then releases its record', async () => {
    const released: string[] = [];
    const log: BytesLog = { append: async (key) => () => void released.push(key) };
    // Its own syncs an hour away: the test makes the sync fail first.
    const store = new DirectoryBlobStore(dir, { log, laterSyncsAfterMs: 3_600_000 });
    const bytes = bytesOf(3000, 5);
    await store.putBytes('results/gen_s/a.png', bytes);
    const path = join(dir, 'results/gen_s/a.png');
    const inode = (await stat(path)).ino;
    // The descriptor the store keeps for the file's later sync, closed behind its back: that fdatasync fails (EBADF),
    // as a disk's EIO would. Nothing opens a file in between (the drain starts at once, synchronously).
    const fd = descriptorOf(await realpath(path));
    expect(fd, 'the store keeps the file open until its sync').to.be.a('number');
    closeSync(fd!);
    await store.settled();
    expect(released, 'not released: the file is not durable').to.deep.equal([]);
    // Written again a moment later (a new file renamed over it, synced), then released.
    await until(async () => released.length > 0 || undefined, 'the record to be released', 10_000);
    expect(released).to.deep.equal(['results/gen_s/a.png']);
    expect((await readFile(path)).equals(bytes)).to.equal(true);
    expect((await stat(path)).ino, 'a new file').to.not.equal(inode);
  });

  it('replays the records of a log written with another size (logBytes changed across a crash)', async () => {
    const path = join(dir, 'results.wal');
    const log = new ResultLog(path, 64 * 1024);
    await log.open(async () => false);
    // Segments of 16 KiB: the second record does not fit after the first and goes to the second segment.
    await log.append('results/gen_s/one.png', bytesOf(13_000, 1));
    await log.append('results/gen_s/two.png', bytesOf(13_000, 2));
    await log.close();
    const seen = await recordsIn(path, 32 * 1024);
    expect(seen.map((r) => r.key)).to.deep.equal(['results/gen_s/one.png', 'results/gen_s/two.png']);
    expect((await stat(path)).size, 'the new size').to.equal(32 * 1024);
  });

  it('gives the room back when its zeros do not fit on the disk, and the store then syncs files itself (a real 1 MiB tmpfs)', async () => {
    const disk = await mountSmallDisk('1m');
    try {
      const log = new ResultLog(join(disk.dir, 'results.wal'), 8 * 1024 * 1024);
      const error = await log.open(async () => false).then(() => undefined, (failed: NodeJS.ErrnoException) => failed);
      expect(error?.code).to.equal('ENOSPC');
      expect((await stat(join(disk.dir, 'results.wal'))).size, 'no room taken').to.equal(0);
      const store = new DirectoryBlobStore(disk.dir, { log });
      const bytes = bytesOf(200_000, 3);
      await store.putBytes('results/gen_d/a.png', bytes);
      expect((await readFile(join(disk.dir, 'results/gen_d/a.png'))).equals(bytes)).to.equal(true);
    } finally {
      await disk.release();
    }
  });

  it('keeps its size when opened again, and a shorter file is given its zeros', async () => {
    const path = join(dir, 'results.wal');
    await writeFile(path, Buffer.alloc(1000));
    await truncate(path, 1000);
    expect(await recordsIn(path, 32 * 1024)).to.deep.equal([]);
    expect((await stat(path)).size).to.equal(32 * 1024);
  });
});
