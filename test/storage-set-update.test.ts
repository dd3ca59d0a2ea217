import { expect } from 'chai';
import Datastore from 'nedb-promises';
import type { FileHandle } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppenderIo } from '../plugins/storage-nedb/datafile-appender.js';
import { closeCollection, openCollection, rawDoc, type Collection } from '../plugins/storage-nedb/datastore.js';
import { datafileText } from './helpers/datafile.js';

/** Updates of every shape the stores make (and some they do not), applied to the same rows in both datastores. */
const ROW = { _id: 'a', state: 'queued', inputs: { seed: 1, list: [1, { deep: true }] }, graph: '{"1":{}}', '2': 'numeric key', progress: null };
const UPDATES: Record<string, unknown>[] = [
  { $set: { state: 'running', startedAt: '2026-01-01T00:00:00.000Z' } },
  { $set: { percent: 12.5, step: { node: '2', value: 3, max: 8 } } },
  { $set: { '10': 'another numeric key', state: 'running' } },
  { $set: { state: 'completed', outputs: [{ node: '2', files: ['a.png'] }] }, $unset: { graph: true } },
  { $unset: { missing: true, progress: true } },
  { $set: { 'inputs.seed': 7 } }, // a dotted field: nedb's own path
  { $inc: { count: 1 } }, // another modifier: nedb's own path
  { $set: { position: 3 }, $inc: { count: 2 } },
];

describe('storage-nedb: an update that only sets fields of one row', () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'set-update-'))));
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it("writes the same rows and lines as nedb's own update, and returns the same rows", async () => {
    const file = join(dir, 'rows.db');
    const ours = await openCollection(file, { sync: false, noDates: true });
    const plain = Datastore.create({ inMemoryOnly: true });
    const lines: string[] = [];
    try {
      await ours.insert(structuredClone(ROW));
      await plain.insert(structuredClone(ROW));
      for (const change of UPDATES) {
        const mine = await ours.update({ _id: 'a' }, structuredClone(change), { returnUpdatedDocs: true });
        const theirs = await plain.update({ _id: 'a' }, structuredClone(change), { returnUpdatedDocs: true });
        expect(mine).to.deep.equal(theirs);
        expect(JSON.stringify(mine)).to.equal(JSON.stringify(theirs)); // same fields in the same order
        lines.push(JSON.stringify(theirs));
      }
      expect(await ours.update({ _id: 'a' }, { $set: { last: 1 } })).to.equal(1);
      expect(await plain.update({ _id: 'a' }, { $set: { last: 1 } })).to.equal(1);
      lines.push(JSON.stringify(await plain.findOne({ _id: 'a' })));
      expect(await ours.update({ _id: 'nobody' }, { $set: { last: 2 } })).to.equal(0);
      expect(await ours.find({})).to.deep.equal(await plain.find({}));
      // nedb's own refusals, and nothing changed by them
      for (const refused of [{ $set: { $bad: 1 } }, { $set: { nested: { 'a.b': 1 } } }, { $set: { list: [{ $x: 1 }] } }]) {
        const error = await ours.update({ _id: 'a' }, refused).catch((e: Error) => e);
        const nedbError = await plain.update({ _id: 'a' }, refused).catch((e: Error) => e);
        expect(error).to.be.instanceOf(Error);
        expect((error as Error).message).to.equal((nedbError as Error).message);
      }
      expect(await ours.find({})).to.deep.equal(await plain.find({}));
    } finally {
      await closeCollection(ours);
    }
    const written = (await datafileText(file)).trimEnd().split('\n');
    expect(written.slice(1)).to.deep.equal(lines);
  });

  it('finds every row among many, whatever the order they were inserted and removed in', async () => {
    const ours = await openCollection(join(dir, 'many.db'), { sync: false, noDates: true });
    const plain = Datastore.create({ inMemoryOnly: true });
    try {
      const ids = Array.from({ length: 300 }, (_, i) => `gen_${((i * 7919) % 300).toString(36)}_${i % 7}`);
      for (const id of ids) {
        await ours.insert({ _id: id, n: 0, kept: { id } });
        await plain.insert({ _id: id, n: 0, kept: { id } });
      }
      for (const id of ids.filter((_, i) => i % 5 === 0)) {
        await ours.remove({ _id: id }, {});
        await plain.remove({ _id: id }, {});
      }
      for (const [i, id] of ids.entries()) {
        const change = { $set: { n: i + 1 } };
        const kept = rawDoc(ours, id)?.kept;
        expect(await ours.update({ _id: id }, change), id).to.equal(await plain.update({ _id: id }, change));
        if (kept) expect(rawDoc(ours, id)!.kept, `${id} found without nedb's search and copy`).to.equal(kept);
      }
      expect(await ours.find({}).sort({ _id: 1 }).exec()).to.deep.equal(await plain.find({}).sort({ _id: 1 }).exec());
    } finally {
      await closeCollection(ours);
    }
  });

  it('copies only the fields it sets: the rest of the row is shared with the row it replaces, and a returned row is a copy', async () => {
    const collection = await openCollection(join(dir, 'shared.db'), { sync: false, noDates: true });
    try {
      await collection.insert(structuredClone(ROW));
      const before = rawDoc(collection, 'a')!;
      const returned = (await collection.update({ _id: 'a' }, { $set: { state: 'running' } }, { returnUpdatedDocs: true })) as typeof ROW;
      const after = rawDoc(collection, 'a')!;
      expect(after).to.not.equal(before); // a new row: the old one is never changed (compaction's snapshot relies on it)
      expect(before.state).to.equal('queued');
      expect(after.state).to.equal('running');
      expect(after.inputs).to.equal(before.inputs);
      returned.inputs.seed = 99;
      expect((rawDoc(collection, 'a') as typeof ROW).inputs.seed).to.equal(1);
      expect((await collection.findOne({ _id: 'a' })) as unknown).to.deep.equal({ ...ROW, state: 'running' });
    } finally {
      await closeCollection(collection);
    }
  });

  it('a refused line puts the row back in memory, also when it was set again or removed behind it', async () => {
    let full = false;
    const io: AppenderIo = {
      async write(handle: FileHandle, data: Buffer, position: number) {
        if (full) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        return (await handle.write(data, 0, data.length, position)).bytesWritten;
      },
      datasync: (handle) => handle.datasync(),
    };
    const file = join(dir, 'refused.db');
    const collection: Collection = await openCollection(file, { sync: true, io, noDates: true });
    try {
      await collection.insert(structuredClone(ROW));
      await collection.insert({ _id: 'b', state: 'queued' });
      full = true;
      const outcomes = await Promise.allSettled([
        collection.update({ _id: 'a' }, { $set: { state: 'running' } }),
        collection.update({ _id: 'a' }, { $set: { state: 'completed' }, $unset: { graph: true } }),
        collection.update({ _id: 'b' }, { $set: { state: 'running' } }),
        collection.remove({ _id: 'b' }, {}),
      ]);
      expect(outcomes.map((o) => o.status)).to.deep.equal(['rejected', 'rejected', 'rejected', 'rejected']);
      full = false;
      expect(await collection.find({}).sort({ _id: 1 })).to.deep.equal([ROW, { _id: 'b', state: 'queued' }]);
      await collection.update({ _id: 'b' }, { $set: { state: 'failed' } });
      expect(await collection.findOne({ _id: 'b' })).to.deep.equal({ _id: 'b', state: 'failed' });
    } finally {
      await closeCollection(collection);
    }
    const rows = (await datafileText(file)).trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(rows.map((row) => `${row._id as string}:${row.state as string}`)).to.deep.equal(['a:queued', 'b:queued', 'b:failed']);
  });
});
