import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirectoryBlobStore } from '../contracts/directory-blob-store.js';

/**
 * A source given up with `move` (contracts/blob-store.ts): once put resolves the file is gone from its path,
 * whether the store renamed it (same file system) or had to copy it (another one), so the upload library makes
 * no call to delete it; a `size` the caller gives is the size answered, with no stat.
 */
describe('blob store: a file given up with move', () => {
  let root: string;
  let other: string | undefined;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'blob-move-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
    if (other) await rm(other, { recursive: true, force: true });
    other = undefined;
  });

  it('renames the file into place on the same file system: the source is gone, the size is the one given', async () => {
    const store = new DirectoryBlobStore(join(root, 'data'));
    const source = join(root, 'incoming-1');
    await writeFile(source, 'twelve bytes');
    const info = await store.put('uploads/cb_a.png', { file: source, move: true, size: 12 });
    expect(info).to.include({ key: 'uploads/cb_a.png', size: 12 });
    expect(existsSync(source)).to.equal(false);
    expect(await readFile(store.localPath('uploads/cb_a.png'), 'utf8')).to.equal('twelve bytes');
    // Without a size the store looks it up.
    const second = join(root, 'incoming-2');
    await writeFile(second, 'abc');
    expect(await store.put('uploads/cb_b.png', { file: second, move: true })).to.include({ size: 3 });
  });

  it('copies from another file system and then deletes the source', async () => {
    // /dev/shm is a tmpfs on Linux: a rename from there into the temp folder fails with EXDEV.
    other = await mkdtemp('/dev/shm/blob-move-');
    const source = join(other, 'incoming');
    await writeFile(source, 'from another file system');
    const store = new DirectoryBlobStore(join(root, 'data'));
    const info = await store.put('uploads/cb_c.png', { file: source, move: true, size: 24 });
    expect(info.size).to.equal(24);
    expect(existsSync(source)).to.equal(false);
    expect(await readFile(store.localPath('uploads/cb_c.png'), 'utf8')).to.equal('from another file system');
  });

  it('keeps a source that is not given up, and leaves a source whose copy failed for its caller', async () => {
    const store = new DirectoryBlobStore(join(root, 'data'));
    const source = join(root, 'kept');
    await writeFile(source, 'kept');
    await store.put('uploads/cb_d.png', { file: source });
    expect(existsSync(source)).to.equal(true);
    // A key that is a folder cannot be written: refused, and the moved file not lost.
    await store.put('uploads/dir/x.png', { file: source });
    const error = await store.put('uploads/dir', { file: source, move: true }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(Error);
    expect(existsSync(source)).to.equal(true);
  });
});
