import { expect } from 'chai';
import Datastore from 'nedb-promises';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readDatafileAt } from '../plugins/storage-nedb/datafile-load.js';
import { internals, openCollection, closeCollection, type Collection } from '../plugins/storage-nedb/datastore.js';
import { fillSortedIdIndex, type NedbIndexLike } from '../plugins/storage-nedb/id-index-build.js';
import { datafileText } from './helpers/datafile.js';

type Doc = Record<string, unknown>;

/** The AVL tree under nedb's _id index, as @seald-io/binary-search-tree keeps it. */
interface Tree {
  checkIsAVLT(): void;
  getNumberOfKeys(): number;
}
const treeOf = (collection: Collection): Tree => (internals(collection).indexes._id as unknown as { tree: { tree: Tree } }).tree.tree;
const byId = (rows: Doc[]) => [...rows].sort((x, y) => (String(x._id) < String(y._id) ? -1 : 1));

/** A datafile as a bridge leaves it: rows in _id order (a compaction), then changes appended in time order. */
function compactedThenAppended(rows: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < rows; i++) lines.push(JSON.stringify({ n: i, text: 'é😀'.repeat(i % 5), _id: `id_${String(i).padStart(5, '0')}` }));
  lines.push('{"$$indexCreated":{"fieldName":"n","unique":false,"sparse":false}}');
  lines.push(JSON.stringify({ n: -1, _id: 'id_00003' })); // a later version of an earlier row
  lines.push('{"$$deleted":true,"_id":"id_00005"}');
  lines.push(JSON.stringify({ n: 1000, _id: 'id_0000' })); // a new row sorting before the others
  lines.push('{"_id":"id_x", torn');
  return lines;
}

describe('storage-nedb: loading a datafile', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nedb-load-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads in blocks exactly what nedb reads, whatever the block size (lines across blocks, UTF-8 across blocks, longer than a block)', async () => {
    const file = join(dir, 'mixed.db');
    const long = JSON.stringify({ _id: 'long', text: 'ü'.repeat(5000) });
    await writeFile(file, `${[...compactedThenAppended(200), long, '{"_id":"a","when":{"$$date":5}}', 'null', '"text"'].join('\n')}\n`);
    const plain = Datastore.create({ filename: file });
    await plain.load();
    const theirs = byId((await plain.find({})) as Doc[]);
    for (const block of [7, 64, 1000, 4096, 1 << 22]) {
      const ours = await readDatafileAt(file, 0.5, undefined, undefined, block);
      expect(byId(ours.data), `block ${block}`).to.deep.equal(theirs);
      expect(ours.indexes).to.deep.equal({ n: { fieldName: 'n', unique: false, sparse: false } });
      expect(ours.sortedById()).to.deep.equal(theirs);
    }
  });

  it('counts corrupt lines and refuses over the threshold as nedb does', async () => {
    const file = join(dir, 'bad.db');
    await writeFile(file, '{"_id":"x"}\nnot json\n{broken\n');
    const failure = await readDatafileAt(file, 0.5).catch((error: unknown) => error as Error);
    expect((failure as Error).message).to.include('66% of the data file is corrupt');
    await writeFile(file, '{"_id":"x"}\n{"_id":"y"}\n{broken\n');
    expect((await readDatafileAt(file, 0.5)).data.map((row) => row._id)).to.deep.equal(['x', 'y']);
  });

  it('hands the rows on in _id order without a copy while the ids only ascend, and sorted once they do not', async () => {
    const file = join(dir, 'ids.db');
    await writeFile(file, '{"_id":"a"}\n{"_id":"b"}\n{"_id":"c"}\n');
    const ascending = await readDatafileAt(file, 0.1);
    expect(ascending.sortedById()).to.equal(ascending.data);
    await writeFile(file, '{"_id":"b","v":1}\n{"_id":"a"}\n{"_id":"c"}\n{"_id":"b","v":2}\n');
    const mixed = await readDatafileAt(file, 0.1);
    expect(mixed.data.map((row) => row._id)).to.deep.equal(['b', 'a', 'c']); // first seen, as nedb keeps them
    expect(mixed.sortedById()).to.deep.equal([{ _id: 'a' }, { _id: 'b', v: 2 }, { _id: 'c' }]);
    await writeFile(file, '{"_id":"b"}\n{"_id":1}\n');
    expect((await readDatafileAt(file, 0.1)).sortedById()).to.equal(undefined);
  });

  it('builds the _id index as a valid AVL tree that nedb then inserts into, deletes from and looks up in', () => {
    for (const size of [1, 2, 3, 7, 8, 100, 1023, 1024, 1025]) {
      const rows = Array.from({ length: size }, (_, i) => ({ _id: `k${String(i).padStart(5, '0')}`, i }));
      const db = Datastore.create({ inMemoryOnly: true });
      const index = internals(db).indexes._id as unknown as NedbIndexLike & { tree: { tree: Tree } };
      index.reset();
      expect(fillSortedIdIndex(index, rows)).to.equal(true);
      index.tree.tree.checkIsAVLT();
      expect(index.tree.tree.getNumberOfKeys()).to.equal(size);
      expect(internals(db).indexes._id!.getMatching(`k${String(size - 1).padStart(5, '0')}`)).to.deep.equal([rows[size - 1]]);
      const live = index as unknown as { insert(doc: Doc): void; remove(doc: Doc): void };
      live.insert({ _id: 'k', i: -1 });
      live.insert({ _id: 'zz', i: -2 });
      live.remove(rows[0]!);
      index.tree.tree.checkIsAVLT();
      expect(index.tree.tree.getNumberOfKeys()).to.equal(size + 1);
      // A key of the built tree is still unique (the last one: the first was removed above).
      if (size > 1) expect(() => live.insert({ _id: rows[size - 1]!._id })).to.throw(/unique/);
    }
  });

  it('refuses rows it cannot build from (not ascending, repeated, not strings, an index already filled), leaving the index as it was', () => {
    const db = Datastore.create({ inMemoryOnly: true });
    const index = internals(db).indexes._id as unknown as NedbIndexLike & { tree: { tree: Tree } };
    for (const rows of [[{ _id: 'b' }, { _id: 'a' }], [{ _id: 'a' }, { _id: 'a' }], [{ _id: 1 }, { _id: 2 }], []]) {
      index.reset();
      expect(fillSortedIdIndex(index, rows)).to.equal(false);
      expect(index.tree.tree.getNumberOfKeys()).to.equal(0);
    }
    index.reset([{ _id: 'x' }]);
    expect(fillSortedIdIndex(index, [{ _id: 'y' }])).to.equal(false);
    expect(index.tree.tree.getNumberOfKeys()).to.equal(1);
  });

  it('opens a collection holding what nedb itself loads from the same file, in the same order, and keeps writing to it', async () => {
    for (const [name, lines] of [
      ['compacted', compactedThenAppended(500).slice(0, 501)],
      ['appended', compactedThenAppended(500)],
      ['numbers', ['{"_id":2,"n":1}', '{"_id":1,"n":2}', '{"_id":"s","n":3}']],
    ] as const) {
      const file = join(dir, `${name}.db`);
      await writeFile(file, `${lines.join('\n')}\n`);
      const plain = Datastore.create({ filename: join(dir, `${name}-copy.db`) });
      await writeFile(join(dir, `${name}-copy.db`), `${lines.join('\n')}\n`);
      await plain.load();
      const collection = await openCollection(file);
      try {
        expect(await collection.find({}), name).to.deep.equal(await plain.find({}));
        expect(await collection.find({ n: { $gte: 10, $lt: 20 } }), name).to.deep.equal(await plain.find({ n: { $gte: 10, $lt: 20 } }));
        treeOf(collection).checkIsAVLT();
        await collection.insert({ _id: 'new', n: 7 });
        await collection.remove({ _id: lines.length > 3 ? 'id_00010' : 1 }, {});
        treeOf(collection).checkIsAVLT();
        expect(await collection.findOne({ _id: 'new' })).to.deep.equal({ _id: 'new', n: 7 });
      } finally {
        await closeCollection(collection);
      }
      // What it wrote reads back the same through nedb's own loader (its lines: nedb knows no zeroed tail).
      await writeFile(join(dir, `${name}-lines.db`), await datafileText(file));
      const again = Datastore.create({ filename: join(dir, `${name}-lines.db`) });
      await again.load();
      expect(await again.count({}), name).to.equal(await plain.count({})); // one row in, one out
      expect(await again.findOne({ _id: 'new' }), name).to.deep.equal({ _id: 'new', n: 7 });
    }
  });
});
