import { expect } from 'chai';
import { isBridgeError, type BridgeError } from '../core/errors.js';
import { datafilePath, NedbStorage } from '../plugins/storage-nedb/nedb-storage.js';
import { datafileTextSync } from './helpers/datafile.js';
import { numberedGenerations } from './helpers/generation.js';
import { mountSmallDisk, type SmallDisk } from './helpers/small-disk.js';

const quietLog = { warn: () => undefined, info: () => undefined };
const BIG_GRAPH = { '1': { class_type: 'CLIPTextEncode', inputs: { text: 'y'.repeat(6000) } } };
const makeGeneration = numberedGenerations({ start: '2026-04-01T00:00:00.000Z', idPrefix: 'gen_pc', defaults: { state: 'queued', graph: BIG_GRAPH } });

/** syncWrites: false: each batch is written into the page cache on the event loop, and not fdatasynced. */
describe('storage-nedb without fdatasync (syncWrites: false)', function () {
  this.timeout(20_000);
  let disk: SmallDisk;
  beforeEach(async () => {
    disk = await mountSmallDisk('1m');
  });
  afterEach(async () => {
    await disk.release();
  });

  it('has a write in the file when it resolves, and refuses one the disk cannot take with 503, leaving nothing', async () => {
    const open = () => NedbStorage.open({ dataDir: disk.dir, inMemory: false, log: quietLog, sync: false });
    let storage = await open();
    const kept = makeGeneration();
    await storage.generations.insert(kept);
    // Read synchronously the moment the insert resolved: the line is already in the file.
    expect(datafileTextSync(datafilePath(disk.dir, 'generations'))).to.contain(`"_id":"${kept.id}"`);

    await disk.fill();
    // Rows that fit in the datafile's zeroed tail (written before the disk filled) are still written and kept;
    // the first that does not is refused.
    const alsoKept: string[] = [];
    let refused = makeGeneration();
    let error: BridgeError | undefined;
    for (let tries = 0; ; tries++) {
      expect(tries, 'a row is refused once the tail is used up').to.be.below(100);
      error = await storage.generations.insert(refused).then(
        () => undefined,
        (caught: unknown) => caught as BridgeError,
      );
      if (error !== undefined) break;
      alsoKept.push(refused.id);
      refused = makeGeneration();
    }
    expect(isBridgeError(error), String(error)).to.equal(true);
    expect(error?.status).to.equal(503);
    expect(error?.code).to.equal('storage_unavailable');
    expect(await storage.generations.get(refused.id)).to.equal(undefined);
    expect((await storage.generations.counts()).total).to.equal(1 + alsoKept.length);

    await disk.free();
    await storage.generations.update(kept.id, { state: 'running' });
    await storage.close();
    expect(datafileTextSync(datafilePath(disk.dir, 'generations'))).to.not.contain(refused.id);
    storage = await open();
    try {
      expect((await storage.generations.get(kept.id))?.state).to.equal('running');
      expect(await storage.generations.get(refused.id)).to.equal(undefined);
      for (const id of alsoKept) expect((await storage.generations.get(id))?.state, id).to.equal('queued');
      expect((await storage.generations.counts()).total).to.equal(1 + alsoKept.length);
    } finally {
      await storage.close();
    }
  });
});
