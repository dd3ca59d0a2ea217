import { expect } from 'chai';
import { statfsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { isBlobKey, type BlobStore } from '../contracts/blob-store.js';
import { isLocalDiskType, onLocalDisk } from '../contracts/local-disk.js';
import { DirectoryBlobStore } from '../plugins/results/dir-blob-store.js';

/**
 * The blob-store contract (contracts/blob-store.ts), written as a suite over stores so an object-store
 * implementation can run the same expectations; today the directory store is the one there is.
 */
const stores: { name: string; open(): Promise<{ store: BlobStore; root: string; cleanup(): Promise<void> }> }[] = [
  {
    name: 'directory',
    async open() {
      const root = await mkdtemp(join(tmpdir(), 'blob-store-'));
      return { store: new DirectoryBlobStore(root), root, cleanup: () => rm(root, { recursive: true, force: true }) };
    },
  },
];

for (const backend of stores) {
  describe(`blob store: ${backend.name}`, () => {
    let store: BlobStore;
    let root: string;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ store, root, cleanup } = await backend.open());
    });
    afterEach(() => cleanup());

    it('puts from a stream and from a file, reads whole and by range, stats, lists a prefix in key order', async () => {
      const info = await store.put('results/gen_1/b.txt', Readable.from([Buffer.from('hello '), Buffer.from('world')]));
      expect(info).to.include({ key: 'results/gen_1/b.txt', size: 11 });
      const source = join(root, 'source.bin');
      await writeFile(source, 'from a file');
      await store.put('results/gen_1/a.txt', { file: source });
      await store.put('results/gen_2/c.txt', Readable.from(['other']));
      expect(await text(store.read('results/gen_1/b.txt'))).to.equal('hello world');
      expect(await text(store.read('results/gen_1/b.txt', { start: 6, end: 10 }))).to.equal('world');
      expect(await store.stat('results/gen_1/a.txt')).to.include({ size: 11 });
      expect(await store.stat('results/gen_1/none.txt')).to.equal(undefined);
      expect((await store.list('results/gen_1/')).map((b) => b.key)).to.deep.equal(['results/gen_1/a.txt', 'results/gen_1/b.txt']);
      expect((await store.list('results/')).map((b) => b.key)).to.have.length(3);
      expect(await store.list('nothing/')).to.deep.equal([]);
    });

    it('replaces a blob whole, deletes one and a prefix', async () => {
      await store.put('u/x', Readable.from(['first version']));
      await store.put('u/x', Readable.from(['second']));
      expect(await text(store.read('u/x'))).to.equal('second');
      await store.put('u/y', Readable.from(['y']));
      await store.delete('u/x');
      await store.delete('u/x');
      expect((await store.list('u/')).map((b) => b.key)).to.deep.equal(['u/y']);
      await store.deletePrefix('u/');
      expect(await store.list('u/')).to.deep.equal([]);
      const failed = await new Promise<unknown>((resolve) => store.read('u/y').once('error', resolve).resume());
      expect((failed as NodeJS.ErrnoException).code).to.equal('ENOENT');
    });

    it('a source that fails leaves neither the blob nor a partial file behind', async () => {
      await store.put('r/keep', Readable.from(['old']));
      const failing = new Readable({
        read() {
          this.push('partial');
          this.destroy(new Error('backend went away'));
        },
      });
      const error = await store.put('r/keep', failing).catch((e: unknown) => e);
      expect((error as Error).message).to.equal('backend went away');
      expect(await text(store.read('r/keep'))).to.equal('old');
      expect((await store.list('r/')).map((b) => b.key)).to.deep.equal(['r/keep']);
      if (backend.name === 'directory') expect(await readdir(join(root, 'r'))).to.deep.equal(['keep']);
    });

    it('creates a blob\'s folder when it is missing, whether or not a deletePrefix saw it go', async () => {
      // Emptied (nothing there), then written: the folder is made on the way.
      await store.deletePrefix('results/gen_3/');
      expect(await store.put('results/gen_3/a.png', Readable.from([Buffer.alloc(70, 1)]))).to.include({ key: 'results/gen_3/a.png', size: 70 });
      // Emptied with a file in it, then written again.
      await store.deletePrefix('results/gen_3/');
      expect(await store.list('results/gen_3/')).to.deep.equal([]);
      await store.put('results/gen_3/b.png', Readable.from(['bb']));
      // Removed behind the store's back after it last looked: the put still finds its way.
      await rm(join(root, 'results', 'gen_3'), { recursive: true });
      expect(await store.put('results/gen_3/c.png', Readable.from(['ccc']))).to.include({ size: 3 });
      // Made by someone else after a deletePrefix saw it absent: the other's file stays.
      await store.deletePrefix('results/gen_4/');
      await store.put('results/gen_3/d.png', Readable.from(['d']));
      if (backend.name === 'directory') {
        await mkdir(join(root, 'results', 'gen_4'));
        await writeFile(join(root, 'results', 'gen_4', 'other.png'), 'o');
      } else await store.put('results/gen_4/other.png', Readable.from(['o']));
      await store.put('results/gen_4/mine.png', Readable.from(['m']));
      expect((await store.list('results/')).map((b) => b.key)).to.deep.equal([
        'results/gen_3/c.png',
        'results/gen_3/d.png',
        'results/gen_4/mine.png',
        'results/gen_4/other.png',
      ]);
      expect(await text(store.read('results/gen_3/c.png'))).to.equal('ccc');
    });

    it('resetPrefix (where offered) empties a prefix, absent or full, and its puts follow', async () => {
      expect(store.resetPrefix, 'the directory store offers resetPrefix').to.be.a('function');
      const reset = (prefix: string) => store.resetPrefix!(prefix);
      // Nothing there, not even its parent.
      await reset('results/gen_5/');
      expect(await store.list('results/')).to.deep.equal([]);
      await store.put('results/gen_5/a.png', Readable.from(['aa']));
      await store.put('results/gen_5/b.png', Readable.from(['b']));
      // Full: emptied.
      await reset('results/gen_5/');
      expect(await store.list('results/gen_5/')).to.deep.equal([]);
      expect(await store.put('results/gen_5/c.png', Readable.from(['ccc']))).to.include({ size: 3 });
      // A sibling prefix is left alone.
      await store.put('results/gen_6/keep.png', Readable.from(['k']));
      await reset('results/gen_5/');
      expect((await store.list('results/')).map((b) => b.key)).to.deep.equal(['results/gen_6/keep.png']);
      const error = await reset('../x/').catch((e: unknown) => e);
      expect(error).to.be.instanceOf(Error);
    });

    it('putBytes (where offered) writes a whole blob, making its folder, replacing the old one, leaving no temporary file', async () => {
      expect(store.putBytes, 'the directory store offers putBytes').to.be.a('function');
      const put = (key: string, bytes: string) => store.putBytes!(key, Buffer.from(bytes));
      // Its folder does not exist yet.
      expect(await put('results/gen_7/a.png', 'first')).to.include({ key: 'results/gen_7/a.png', size: 5 });
      expect(await put('results/gen_7/a.png', 'second!')).to.include({ size: 7 });
      expect(await text(store.read('results/gen_7/a.png'))).to.equal('second!');
      expect(await readdir(join(root, 'results', 'gen_7'))).to.deep.equal(['a.png']);
      // Beside the folder resetPrefix readied, as the results copy does.
      await store.resetPrefix!('results/gen_8/');
      await put('results/gen_8/b.png', 'bb');
      expect((await store.list('results/')).map((b) => [b.key, b.size])).to.deep.equal([
        ['results/gen_7/a.png', 7],
        ['results/gen_8/b.png', 2],
      ]);
      // A key that is a folder cannot be written: refused, and its temporary file removed.
      await mkdir(join(root, 'results', 'gen_8', 'dir.png'));
      const error = await put('results/gen_8/dir.png', 'x').catch((e: unknown) => e);
      expect(error).to.be.instanceOf(Error);
      expect((await readdir(join(root, 'results', 'gen_8'))).sort()).to.deep.equal(['b.png', 'dir.png']);
      const refused = await put('../x', 'x').catch((e: unknown) => e);
      expect(refused).to.be.instanceOf(Error);
    });

    it('refuses keys that could leave its namespace', async () => {
      for (const key of ['../x', 'a/../../x', '/abs', 'a//b', '.hidden', 'a/.tmp', 'a\\b', '']) {
        expect(isBlobKey(key), key).to.equal(false);
        const error = await store.put(key, Readable.from(['x'])).catch((e: unknown) => e);
        expect(error, key).to.be.instanceOf(Error);
      }
      expect(() => store.read('../etc/passwd')).to.throw();
      const error = await store.deletePrefix('..').catch((e: unknown) => e);
      expect(error).to.be.instanceOf(Error);
    });
  });
}

describe('local disk detection (the directory store writes small blobs synchronously only there)', () => {
  it('knows local file systems by their statfs type, and calls network and unknown ones not local', () => {
    for (const local of [0xef53, 0x58465342, 0x9123683e, 0x01021994, 0x794c7630]) expect(isLocalDiskType(local), local.toString(16)).to.equal(true);
    // NFS, SMB2, CephFS, FUSE (s3fs, sshfs), and a type nobody knows.
    for (const remote of [0x6969, 0xfe534d42, 0x00c36400, 0x65735546, 0x1234]) expect(isLocalDiskType(remote), remote.toString(16)).to.equal(false);
    expect(isLocalDiskType(0xef53n)).to.equal(true);
  });

  it('tells a folder that does not exist yet by its nearest existing parent', async () => {
    const root = await mkdtemp(join(tmpdir(), 'local-disk-'));
    try {
      expect(onLocalDisk(join(root, 'not', 'yet'))).to.equal(onLocalDisk(root));
      expect(onLocalDisk(root)).to.equal(isLocalDiskType(statfsSync(root).type));
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
