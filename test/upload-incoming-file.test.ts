import { expect } from 'chai';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IncomingFile, type Watch } from '../plugins/upload/incoming-file.js';

const KiB = 1024;

/** `length` bytes of a pattern that changes with `seed`: pieces written out of order would not compare equal. */
function bytes(length: number, seed: number): Buffer {
  const piece = Buffer.alloc(length);
  for (let i = 0; i < length; i++) piece[i] = (i * 31 + seed * 7) & 0xff;
  return piece;
}

/** Writes `chunk` and waits until the file has taken it (its write callback). */
function accepted(file: IncomingFile, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => file.write(chunk, (error) => (error ? reject(error) : resolve())));
}

function finished(file: IncomingFile): Promise<void> {
  return new Promise((resolve, reject) => file.once('finish', resolve).once('error', reject));
}

const sizeOf = async (path: string) => (await stat(path)).size;

describe('upload: the incoming file writes in batches', () => {
  let dir: string;
  const open = (name: string, watch?: Watch) => new IncomingFile('f', join(dir, name), 8 * 1024 * KiB, () => new Error('too large'), () => false, watch);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'upload-incoming-file-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('holds parser-sized chunks until 256 KiB are there (one write for them, not one each), then writes the rest at the end, in order', async () => {
    const file = open('a');
    const chunks = Array.from({ length: 5 }, (_, i) => bytes(64 * KiB, i));
    for (const chunk of chunks.slice(0, 3)) await accepted(file, chunk);
    // 192 KiB taken and nothing written yet: without batches each chunk was written before its callback.
    expect(await sizeOf(file.path)).to.equal(0);
    await accepted(file, chunks[3]!);
    expect(await sizeOf(file.path)).to.equal(256 * KiB);
    await accepted(file, chunks[4]!);
    expect(await sizeOf(file.path)).to.equal(256 * KiB);
    const done = finished(file);
    file.end(bytes(10, 9));
    await done;
    expect(file.bytesWritten).to.equal(320 * KiB + 10);
    expect((await readFile(file.path)).equals(Buffer.concat([...chunks, bytes(10, 9)]))).to.equal(true);
  });

  it('writes what the watch says, held the same way: a small file in one write at its end', async () => {
    // Drops the first 3 bytes of every piece and adds a tail at the end (as the PNG proof drops text chunks and gives back held header bytes).
    const watch: Watch = { push: (chunk) => [chunk.subarray(3)], end: () => [Buffer.from('tail')] };
    const file = open('b', watch);
    await accepted(file, Buffer.from('xxxhello '));
    await accepted(file, Buffer.from('yyyworld '));
    expect(await sizeOf(file.path)).to.equal(0);
    const done = finished(file);
    file.end();
    await done;
    expect(await readFile(file.path, 'utf8')).to.equal('hello world tail');
    expect(file.bytesWritten).to.equal(16);
  });

  it('destroyed with bytes held: closes without writing them', async () => {
    const file = open('c');
    await accepted(file, bytes(100 * KiB, 1));
    file.destroy();
    await file.whenClosed();
    expect(await sizeOf(file.path)).to.equal(0);
    expect(file.bytesWritten).to.equal(0);
  });
});
