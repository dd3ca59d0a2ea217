import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { ANONYMOUS } from '../contracts/auth.js';
import { DirectoryBlobStore } from '../contracts/directory-blob-store.js';
import { CopiesAhead } from '../plugins/results/copy-ahead.js';
import type { OutputRef } from '../contracts/transport.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { GRAPH, probePlugin, StubTransport, stubTransportPlugin, until, type Probe } from './generations-stub-transport.js';

const first: OutputRef = { node: '2', kind: 'images', filename: 'x_00001_.png', subfolder: '', type: 'output' };
const other: OutputRef = { ...first, filename: 'y_00001_.png' };

/**
 * A result file is copied (written and synced) when `executed` announces it, while ComfyUI finishes the prompt; the
 * copy after the run's end takes it when the run's outputs are the ones copied, and copies anew otherwise.
 */
describe('results: files copied when ComfyUI announces them', () => {
  let bridge: RunningBridge | undefined;
  let stub: StubTransport;
  let probe: Probe;
  let fetches: string[];

  beforeEach(async () => {
    stub = new StubTransport();
    stub.files.set(first.filename, Buffer.from('first png'));
    stub.files.set(other.filename, Buffer.from('other png bytes'));
    fetches = [];
    const fetchOutput = stub.fetchOutput.bind(stub);
    stub.fetchOutput = (backend, ref) => {
      fetches.push(ref.filename);
      return fetchOutput(backend, ref);
    };
    probe = {};
    // Rows on disk and synced: the files are synced too (the path a real deployment takes).
    bridge = await startBridge({ plugins: { 'storage-nedb': {}, bus: {}, generations: {}, results: {} }, extraPlugins: [stubTransportPlugin(stub), probePlugin(probe)] });
  });
  afterEach(async () => {
    await bridge?.close();
    bridge = undefined;
  });

  const folderOf = (id: string) => join(bridge!.dataDir, 'results', id);
  /** Runs the generation's prompt up to its node's `executed` (announcing `outputs`); returns once its first file is in its folder. */
  const runToExecuted = async (outputs: OutputRef[]) => {
    const gen = await probe.generations!.create({ workflow: 'tiny', clientId: 'client-1', principal: ANONYMOUS, graph: GRAPH, uploads: {} });
    const base = { promptId: gen.promptId, backend: 'stub' };
    stub.emit({ type: 'started', ...base });
    stub.emit({ type: 'executing', ...base, node: '2' });
    stub.emit({ type: 'executed', ...base, node: '2', outputs });
    const file = join(folderOf(gen.id), outputs[0]!.filename);
    await until(() => existsSync(file), 'the announced file to be copied before the run ends');
    return { gen, base };
  };

  it('writes an announced output before the run ends, and the copy after the end takes it (one fetch in all)', async () => {
    const { gen, base } = await runToExecuted([first]);
    expect(await readFile(join(folderOf(gen.id), first.filename), 'utf8')).to.equal('first png');
    expect((await probe.generations!.get(gen.id))?.state, 'still running: no row names the file yet').to.equal('running');
    stub.emit({ type: 'completed', ...base, outputs: [first] });
    const done = await probe.generations!.waitForEnd(gen.id, 5000);
    expect(done?.state).to.equal('completed');
    expect(done?.results.map((r) => [r.filename, r.size])).to.deep.equal([[first.filename, 9]]);
    expect(fetches).to.deep.equal([first.filename]);
  });

  it('copies anew when the run ends with other outputs than the ones copied ahead: the folder holds only those', async () => {
    const { gen, base } = await runToExecuted([first]);
    stub.emit({ type: 'completed', ...base, outputs: [other] });
    const done = await probe.generations!.waitForEnd(gen.id, 5000);
    expect(done?.state).to.equal('completed');
    expect(done?.results.map((r) => [r.filename, r.size])).to.deep.equal([[other.filename, 15]]);
    expect(await readdir(folderOf(gen.id))).to.deep.equal([other.filename]);
  });

  it('copies anew when one of the copies ahead failed', async () => {
    let refused = 0;
    const fetchOutput = stub.fetchOutput.bind(stub);
    stub.fetchOutput = async (backend, ref) => {
      if (ref.filename === other.filename && refused === 0) {
        refused += 1;
        throw new Error('connection reset');
      }
      return fetchOutput(backend, ref);
    };
    const { gen, base } = await runToExecuted([first, other]);
    await until(() => refused === 1, 'the second copy ahead to be refused its output');
    stub.emit({ type: 'completed', ...base, outputs: [first, other] });
    const done = await probe.generations!.waitForEnd(gen.id, 5000);
    expect(done?.state).to.equal('completed');
    expect(done?.results.map((r) => [r.filename, r.size])).to.deep.equal([
      [first.filename, 9],
      [other.filename, 15],
    ]);
    expect((await readdir(folderOf(gen.id))).sort()).to.deep.equal([first.filename, other.filename]);
    // (The refused fetch is not counted: it threw before the stub's own.)
    expect(fetches, 'the first copied ahead, then both by the copy after the end').to.deep.equal([first.filename, first.filename, other.filename]);
  });

  it('removes the files copied ahead when the run fails after `executed`', async () => {
    const { gen, base } = await runToExecuted([first]);
    stub.emit({ type: 'failed', ...base, node: '3', nodeType: 'X', exceptionType: 'RuntimeError', message: 'boom' });
    expect((await probe.generations!.waitForEnd(gen.id, 5000))?.state).to.equal('failed');
    await until(() => !existsSync(folderOf(gen.id)), 'the folder and its file to be removed');
  });

  it('does not hand over files copied in an earlier run of the generation (resubmitted: another prompt id)', async () => {
    const root = await mkdtemp(join(tmpdir(), 'cb-copy-ahead-'));
    try {
      const ahead = new CopiesAhead(new DirectoryBlobStore(root, { sync: false }));
      const fetch = async (ref: OutputRef) => ({ stream: Readable.from([Buffer.from(ref.filename)]), contentType: 'image/png', length: ref.filename.length });
      expect(ahead.announce('gen_1', 'results/gen_1/', 'prompt-1', [first], fetch, Promise.resolve(true))).to.equal(1);
      expect(ahead.announce('gen_1', 'results/gen_1/', 'prompt-2', [first], fetch, Promise.resolve(true)), 'another run: not copied ahead').to.equal(0);
      expect(await ahead.take('gen_1', 'prompt-2', [first]), 'copied in another run: copy anew').to.equal(false);
      expect(ahead.announce('gen_2', 'results/gen_2/', 'prompt-3', [first], fetch, Promise.resolve(true))).to.equal(1);
      const taken = await ahead.take('gen_2', 'prompt-3', [first]);
      expect(taken && taken.map((r) => [r.filename, r.size])).to.deep.equal([[first.filename, first.filename.length]]);
      expect(await ahead.take('gen_2', 'prompt-3', [first]), 'forgotten once taken').to.equal(undefined);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
