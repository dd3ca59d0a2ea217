import { expect } from 'chai';
import Datastore from 'nedb-promises';
import { writeSync } from 'node:fs';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Generation } from '../contracts/generation.js';
import type { BridgeError } from '../core/errors.js';
import { DatafileAppender, type AppenderIo } from '../plugins/storage-nedb/datafile-appender.js';
import { readDatafileAt } from '../plugins/storage-nedb/datafile-load.js';
import { datafilePath } from '../plugins/storage-nedb/nedb-storage.js';
import { closeCollection, openCollection } from '../plugins/storage-nedb/datastore.js';
import { datafileText } from './helpers/datafile.js';
import { generationRecord } from './helpers/generation.js';
import { until } from './helpers/until.js';
import { nedbStoresPerTest } from './helpers/nedb-stores.js';

const GRAPH = { '1': { class_type: 'EmptyImage', inputs: { width: 64, 'odd.key': 1 } } };

let seq = 0;
const makeGeneration = (overrides: Partial<Generation> = {}): Generation =>
  generationRecord({
    id: `gen_w${++seq}`,
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(),
    state: 'queued',
    promptId: `p${seq}`,
    graph: GRAPH,
    ...overrides,
  });

describe('storage-nedb write path', () => {
  let dataDir: string;
  const { open, close } = nedbStoresPerTest('storage-write-', (dir) => (dataDir = dir));

  it('keeps the graph while a generation may be resubmitted and drops it once final', async () => {
    const storage = await open();
    const gen = makeGeneration();
    await storage.generations.insert(gen);
    await storage.generations.update(gen.id, { state: 'running' });
    expect((await storage.generations.get(gen.id))?.graph).to.deep.equal(GRAPH);

    const ended = await storage.generations.update(gen.id, { state: 'completed', percent: 100 });
    expect(ended?.graph).to.deep.equal({});
    expect(ended?.state).to.equal('completed');
    // A graph in the same patch as the final state is not stored either.
    const other = makeGeneration();
    await storage.generations.insert(other);
    await storage.generations.update(other.id, { state: 'failed', graph: GRAPH });
    expect((await storage.generations.get(other.id))?.graph).to.deep.equal({});
    // Inserted already final (imported history): no graph on disk.
    const imported = makeGeneration({ state: 'interrupted' });
    await storage.generations.insert(imported);

    const file = await datafileText(datafilePath(dataDir, 'generations'));
    const lastLineOf = (id: string) => file.split('\n').filter((line) => line.includes(`"_id":"${id}"`)).at(-1) ?? '';
    expect(lastLineOf(gen.id)).to.not.include('"graph"');
    expect(lastLineOf(imported.id)).to.not.include('"graph"');
  });

  it('has every change in the datafile once a write resolves, and reads it all back after a reopen', async () => {
    const storage = await open();
    const gens = Array.from({ length: 200 }, () => makeGeneration());
    // Concurrent writes are grouped into few appends; each still resolves only once written.
    await Promise.all(gens.map((gen) => storage.generations.insert(gen)));
    const lines = (await datafileText(datafilePath(dataDir, 'generations'))).split('\n');
    for (const gen of gens) expect(lines.some((line) => line.includes(`"_id":"${gen.id}"`)), gen.id).to.equal(true);
    await Promise.all(gens.slice(0, 100).map((gen) => storage.generations.update(gen.id, { state: 'running', percent: 50 })));
    await close(storage);

    const again = await open();
    expect(again.generations.size).to.equal(200);
    expect((await again.generations.get(gens[0]!.id))?.state).to.equal('running');
    expect((await again.generations.get(gens[150]!.id))?.graph).to.deep.equal(GRAPH);
    expect((await again.generations.counts()).byState).to.deep.include({ queued: 100, running: 100 });
  });

  it('DatafileAppender writes quick successive pushes in order through one handle, resolving each once written', async () => {
    const file = join(dataDir, 'lines.db');
    await writeFile(file, 'old\n');
    const appender = await DatafileAppender.open(file, 0o644, { sync: true });
    await appender.settled(); // nothing pushed: resolves at once
    const pushes = Array.from({ length: 50 }, (_, i) => appender.push(`${i}\n`, [], 1));
    await Promise.all(pushes);
    expect(await datafileText(file)).to.equal(`old\n${Array.from({ length: 50 }, (_, i) => `${i}\n`).join('')}`);
    expect(appender.size).to.equal(Buffer.byteLength(await datafileText(file)));
    await appender.close();
    let failure: unknown;
    await appender.push('late\n', [], 1).catch((error: unknown) => (failure = error));
    expect((failure as BridgeError).code).to.equal('storage_unavailable');
    expect(await readFile(file, 'utf8')).to.not.include('late');
    await unlink(file);
  });

  it("calls an insert's inFile once its row is in the datafile, before the fdatasync resolves it; never for a refused one", async () => {
    // Once opened, each fdatasync is held until the test lets it go (and fails for the second insert).
    const syncs: { release: (error?: Error) => void }[] = [];
    let hold = false;
    const io: AppenderIo = {
      write: (handle, data, position) => Promise.resolve(writeSync(handle.fd, data, 0, data.length, position)),
      datasync: (handle) =>
        hold ? new Promise<void>((resolve, reject) => syncs.push({ release: (error) => void (error ? reject(error) : handle.datasync().then(resolve, reject)) })) : handle.datasync(),
    };
    const storage = await open({ io });
    await storage.generations.counts();
    hold = true;
    const file = datafilePath(dataDir, 'generations');

    const first = makeGeneration();
    let inFile = false;
    let stored = false;
    const insert = storage.generations.insert(first, () => (inFile = true)).then(() => (stored = true));
    await until(() => inFile, 'the row to be reported in the file');
    expect(stored, 'not resolved while its fdatasync runs').to.equal(false);
    expect(await readFile(file, 'utf8')).to.include(first.id);
    syncs.shift()!.release();
    await insert;

    const second = makeGeneration();
    let secondInFile = false;
    const refused = storage.generations.insert(second, () => (secondInFile = true)).catch((error: unknown) => error);
    await until(() => secondInFile, 'the second row to be reported in the file');
    hold = false;
    for (const sync of syncs.splice(0)) sync.release(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    expect(((await refused) as BridgeError).code).to.equal('storage_unavailable');
    // It was in the file before the sync failed; the refusal cut it back and undid it.
    expect(await readFile(file, 'utf8')).to.not.include(second.id);
    expect(await storage.generations.get(second.id)).to.equal(undefined);

    // A write the disk refuses (ENOSPC at the write) never reports being in the file.
    const lines = join(dataDir, 'refused.db');
    const full = await DatafileAppender.open(lines, 0o644, {
      sync: true,
      io: { write: () => Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })), datasync: () => Promise.resolve() },
    });
    const pushed = full.push('x\n', [], 1);
    let reported = false;
    void pushed.inFile.then(() => (reported = true));
    expect(((await pushed.catch((error: unknown) => error)) as BridgeError).code).to.equal('storage_unavailable');
    await new Promise((resolve) => setImmediate(resolve));
    expect(reported).to.equal(false);
    await full.close();
  });

  it("stores an insert's own copy of the row and resolves with nothing (no second copy made to return); an upsert still returns its row", async () => {
    await open();
    const file = join(dataDir, 'insert-copy.db');
    const collection = await openCollection(file);
    try {
      const doc = { _id: 'a', nested: { n: 1 } };
      expect(await collection.insert(doc)).to.equal(undefined);
      doc.nested.n = 2;
      expect(await collection.findOne({ _id: 'a' })).to.deep.equal({ _id: 'a', nested: { n: 1 } });
      const upserted = await collection.update({ _id: 'b' }, { _id: 'b', n: 3 }, { upsert: true, returnUpdatedDocs: true });
      expect(upserted).to.deep.equal({ _id: 'b', n: 3 });
    } finally {
      await closeCollection(collection);
    }
    expect(await datafileText(file)).to.equal('{"_id":"a","nested":{"n":1}}\n{"_id":"b","n":3}\n');
  });

  it('reads a datafile exactly as nedb does: last version wins, deletions, index lines, dates', async () => {
    const file = join(dataDir, 'mixed.db');
    const lines = [
      '{"_id":"a","n":1,"when":{"$$date":1767225600000}}',
      '{"$$indexCreated":{"fieldName":"n","unique":false,"sparse":false}}',
      '{"_id":"b","n":2}',
      '{"_id":"a","n":3,"nested":{"at":{"$$date":0}},"list":[{"$$date":5}]}',
      '{"$$indexCreated":{"fieldName":"gone"}}',
      '{"$$indexRemoved":"gone"}',
      '{"_id":"c","n":4}',
      '{"_id":"b","$$deleted":true}',
      '{"_id":"d","text":"a \\u00e9 \\n line","emoji":"😀"}',
      '{"_id":"e", this line is torn',
      '',
    ];
    await writeFile(file, lines.join('\n'));
    const ours = await readDatafileAt(file, 0.5, undefined, undefined, 16);
    // nedb's own reading of the same file (its loader, not patched) must agree row for row.
    const plain = Datastore.create({ filename: file });
    await plain.load();
    const theirs = await plain.find({});
    const byId = (rows: Record<string, unknown>[]) => [...rows].sort((x, y) => String(x._id).localeCompare(String(y._id)));
    expect(byId(ours.data)).to.deep.equal(byId(theirs as Record<string, unknown>[]));
    expect(Object.keys(ours.indexes)).to.deep.equal(['n']);
    const a = ours.data.find((row) => row._id === 'a') as { nested: { at: Date }; list: Date[] };
    expect(a.nested.at).to.be.instanceOf(Date);
    expect(a.list[0]?.getTime()).to.equal(5);

    await writeFile(file, '{"_id":"x"}\nnot json\n{broken\n');
    let failure: unknown;
    await readDatafileAt(file, 0.5).catch((error: unknown) => (failure = error));
    expect((failure as Error).message).to.include('66% of the data file is corrupt');
  });
});
