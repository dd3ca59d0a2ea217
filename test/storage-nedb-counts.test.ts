import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Generation, GenerationState } from '../contracts/generation.js';
import type { GenerationCounts } from '../contracts/storage.js';
import { toDoc } from '../plugins/storage-nedb/generation-store.js';
import { datafilePath } from '../plugins/storage-nedb/nedb-storage.js';
import { cutDatafileAt, datafileText } from './helpers/datafile.js';
import { numberedGenerations } from './helpers/generation.js';
import { nedbStoresPerTest } from './helpers/nedb-stores.js';
import { killWriterChild } from './helpers/nedb-writer-kill.js';


const makeGeneration = numberedGenerations({
  start: '2026-02-01T00:00:00.000Z',
  idPrefix: 'gen_c',
  defaults: { clientId: 'count-client', state: 'completed', graph: { '1': { class_type: 'EmptyImage', inputs: {} } } },
});

const counts = (byState: Partial<Record<GenerationState, number>>): GenerationCounts => {
  const full = { queued: 0, running: 0, completed: 0, failed: 0, interrupted: 0, ...byState };
  return { total: Object.values(full).reduce((a, b) => a + b, 0), byState: full };
};

/** The datafile's lines, parsed (every line is whole JSON). */
async function lines(dataDir: string): Promise<Record<string, unknown>[]> {
  const text = await datafileText(datafilePath(dataDir, 'generations'));
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** A nedb datafile line of a generation, as every version wrote it. */
const rowLine = (gen: Generation): string => `${JSON.stringify(toDoc(gen))}\n`;

describe('storage-nedb counts: one datafile, exact after a crash, a compaction or an upgrade', function () {
  this.timeout(60_000);
  let dataDir: string;
  const { open, close } = nedbStoresPerTest('nedb-counts-', (dir) => (dataDir = dir));

  it('writes no counters datafile: a state change is one line, a pruned row\'s delete line carries its state', async () => {
    const storage = await open();
    const a = makeGeneration({ state: 'queued' });
    const b = makeGeneration({ state: 'failed' });
    await storage.generations.insert(a);
    await storage.generations.insert(b);
    await storage.generations.update(a.id, { state: 'completed' });
    expect(await lines(dataDir)).to.have.length(3);
    expect((await storage.generations.prune({ keep: 1 })).map((gen) => gen.id)).to.deep.equal([a.id]);
    expect((await lines(dataDir)).at(-1)).to.deep.equal({ $$deleted: true, _id: a.id, state: 'completed' });
    expect(existsSync(datafilePath(dataDir, 'counters'))).to.equal(false);
    expect(await storage.generations.counts()).to.deep.equal(counts({ completed: 1, failed: 1 }));
  });

  it('keeps pruned generations counted across a reopen, a compaction (one $$pruned line) and a prune after it', async () => {
    let storage = await open();
    const gens = [makeGeneration(), makeGeneration({ state: 'failed' }), makeGeneration({ state: 'interrupted' }), makeGeneration(), makeGeneration({ state: 'queued' })];
    for (const gen of gens) await storage.generations.insert(gen);
    expect(await storage.generations.prune({ keep: 2 })).to.have.length(3);
    const expected = counts({ completed: 2, failed: 1, interrupted: 1, queued: 1 });
    expect(await storage.generations.counts()).to.deep.equal(expected);

    await storage.close();
    storage = await open();
    expect(await storage.generations.counts()).to.deep.equal(expected);

    await storage.compact();
    const compacted = await lines(dataDir);
    expect(compacted.filter((line) => line.$$deleted)).to.deep.equal([]);
    expect(compacted.filter((line) => line.$$pruned)).to.deep.equal([{ $$pruned: { queued: 0, running: 0, completed: 1, failed: 1, interrupted: 1 } }]);
    await storage.close();
    storage = await open();
    expect(await storage.generations.counts()).to.deep.equal(expected);

    // A prune after the compaction adds delete lines after the $$pruned line: both count.
    await storage.generations.update(gens[4]!.id, { state: 'completed' });
    expect(await storage.generations.prune({ keep: 1 })).to.have.length(1);
    await storage.close();
    storage = await open();
    expect(await storage.generations.counts()).to.deep.equal(counts({ completed: 3, failed: 1, interrupted: 1 }));
    expect((await storage.generations.page({ limit: 10, offset: 0 })).total).to.equal(1);
  });

  it('counts every prefix of a prune right: a crash that cuts the delete lines short loses no count', async () => {
    let storage = await open();
    for (let i = 0; i < 5; i++) await storage.generations.insert(makeGeneration());
    await storage.close();
    const before = Buffer.byteLength(await datafileText(datafilePath(dataDir, 'generations')));
    storage = await open();
    await storage.generations.prune({ keep: 1 });
    await storage.close();
    // The batch held four delete lines; keep the first one and half of the second, as a crash would.
    const text = await datafileText(datafilePath(dataDir, 'generations'));
    const firstDelete = text.indexOf('\n', before) + 1;
    await cutDatafileAt(datafilePath(dataDir, 'generations'), firstDelete + 10);
    storage = await open();
    expect((await storage.generations.page({ limit: 10, offset: 0 })).total).to.equal(4);
    expect(await storage.generations.counts()).to.deep.equal(counts({ completed: 5 }));
  });

  describe('a data dir of the earlier layout (a counters datafile beside the rows)', () => {
    /** 6 generations recorded, 2 of them pruned (their rows deleted, unmarked, as earlier versions did). */
    async function writeOldLayout(counters: string[]): Promise<Generation[]> {
      const gens = [makeGeneration(), makeGeneration({ state: 'failed' }), makeGeneration(), makeGeneration(), makeGeneration(), makeGeneration({ state: 'running' })];
      await mkdir(join(dataDir, 'db'), { recursive: true });
      let text = gens.map(rowLine).join('');
      text += `${JSON.stringify({ $$deleted: true, _id: gens[0]!.id })}\n${JSON.stringify({ $$deleted: true, _id: gens[1]!.id })}\n`;
      await writeFile(datafilePath(dataDir, 'generations'), text);
      await writeFile(datafilePath(dataDir, 'counters'), counters.join(''));
      return gens;
    }
    const countersLine = (c: GenerationCounts): string => `${JSON.stringify({ _id: 'generations', ...c })}\n`;
    const oldCounts = counts({ completed: 4, failed: 1, running: 1 });

    it('opens with the same counts, moves them into the generations datafile and deletes the counters datafile', async () => {
      // nedb appended a whole counters row per change: the last one holds.
      await writeOldLayout([countersLine(counts({ completed: 3, running: 1 })), countersLine(oldCounts)]);
      let storage = await open();
      expect(await storage.generations.counts()).to.deep.equal(oldCounts);
      expect(existsSync(datafilePath(dataDir, 'counters'))).to.equal(false);
      expect((await lines(dataDir)).at(-1)).to.deep.equal({ $$pruned: { queued: 0, running: 0, completed: 1, failed: 1, interrupted: 0 } });

      await storage.close();
      storage = await open();
      expect(await storage.generations.counts()).to.deep.equal(oldCounts);
      await storage.generations.insert(makeGeneration());
      await storage.compact();
      await storage.close();
      storage = await open();
      expect(await storage.generations.counts()).to.deep.equal(counts({ completed: 5, failed: 1, running: 1 }));
    });

    it('after a crash mid-upgrade: the $$pruned line written, the counters datafile still there — the line holds', async () => {
      await writeOldLayout([countersLine(counts({ completed: 40 }))]);
      await appendFile(datafilePath(dataDir, 'generations'), `${JSON.stringify({ $$pruned: { completed: 1, failed: 1 } })}\n`);
      const storage = await open();
      expect(await storage.generations.counts()).to.deep.equal(oldCounts);
      expect(existsSync(datafilePath(dataDir, 'counters'))).to.equal(false);
    });

    it('after a crash mid-upgrade: the $$pruned line torn — it is cut and the counters datafile read again', async () => {
      await writeOldLayout([countersLine(oldCounts)]);
      await appendFile(datafilePath(dataDir, 'generations'), '{"$$pruned":{"completed":1,"fai');
      const storage = await open();
      expect(await storage.generations.counts()).to.deep.equal(oldCounts);
      expect(existsSync(datafilePath(dataDir, 'counters'))).to.equal(false);
    });

    it('a counters datafile a crash left behind its rows never counts fewer than the rows held', async () => {
      // Written apart from the rows, it could miss writes (here it counts 2 of the 4 rows held, 3 completed and 1 running).
      await writeOldLayout([countersLine(counts({ completed: 2 }))]);
      const storage = await open();
      expect(await storage.generations.counts()).to.deep.equal(counts({ completed: 3, running: 1 }));
    });
  });

  /** Reopens the store and checks its counts against its rows: lives ran one at a time, a prune keeps the newest 5. */
  async function expectExactCounts(lastQueued: number, where: string): Promise<number> {
    const storage = await open();
    const { items } = await storage.generations.page({ limit: 100, offset: 0 });
    // The newest row is the last insert that landed (a prune never takes the newest).
    const recorded = Math.max(...items.map((gen) => Number(gen.id.slice('kill_'.length))));
    expect(recorded, `every acknowledged insert is on disk (${where})`).to.be.at.least(lastQueued);
    const inState = (state: GenerationState): number => items.filter((gen) => gen.state === state).length;
    // A life the kill cut stays unfinished (the next child goes on with new ones).
    const unfinished = inState('queued') + inState('running');
    expect(await storage.generations.counts(), where).to.deep.equal(counts({ queued: inState('queued'), running: inState('running'), completed: recorded - unfinished }));
    await close(storage);
    return recorded;
  }

  it('counts are exact after a SIGKILL between a row\'s line and where its counters line used to be written (a real child process)', async () => {
    // Each point a state change is written at: the line is in the file (not synced), nothing else is.
    const points = ['2:queued', '3:running', '4:completed', '8:completed'];
    let recorded = 0;
    for (const point of points) {
      const { lastQueued } = await killWriterChild(dataDir, [point]);
      const now = await expectExactCounts(lastQueued, `paused at ${point}`);
      // The paused write was in the file when the child was killed: it counts, as its row is there.
      if (point.endsWith(':queued')) expect(now).to.equal(recorded + Number(point.split(':')[0]) + 1);
      recorded = now;
    }
  });

  it('counts are exact after SIGKILLs while rows are being written, pruned and compacted (a real child process)', async () => {
    for (const killAt of [23, 41, 64]) {
      const { lastQueued } = await killWriterChild(dataDir, [], killAt);
      await expectExactCounts(lastQueued, `kill at line ${killAt}`);
    }
  });
});
