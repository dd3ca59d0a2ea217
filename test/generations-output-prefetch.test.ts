import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ANONYMOUS } from '../contracts/auth.js';
import type { OutputRef } from '../contracts/transport.js';
import { OutputPrefetch } from '../plugins/generations/output-prefetch.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { GRAPH, probePlugin, StubTransport, stubTransportPlugin, until, type Probe } from './generations-stub-transport.js';

const output: OutputRef = { node: '2', kind: 'images', filename: 'x_00001_.png', subfolder: '', type: 'output' };

/** Outputs are asked for when `executed` announces them; the copy after the end takes that answer. */
describe('generations: outputs fetched when announced', () => {
  let bridge: RunningBridge | undefined;
  let stub: StubTransport;
  let probe: Probe;
  /** Every fetchOutput, with the body it gave. */
  let fetched: { ref: OutputRef; stream: Readable }[];

  beforeEach(async () => {
    stub = new StubTransport();
    stub.files.set(output.filename, Buffer.from('png bytes'));
    fetched = [];
    const fetchOutput = stub.fetchOutput.bind(stub);
    stub.fetchOutput = async (backend, ref) => {
      const answer = await fetchOutput(backend, ref);
      fetched.push({ ref, stream: answer.stream });
      return answer;
    };
    probe = {};
    bridge = await startBridge({ plugins: { 'storage-nedb': { inMemory: true }, bus: {}, generations: {}, results: {} }, extraPlugins: [stubTransportPlugin(stub), probePlugin(probe)] });
  });
  afterEach(async () => {
    await bridge?.close();
    bridge = undefined;
  });

  const create = () => probe.generations!.create({ workflow: 'tiny', clientId: 'client-1', principal: ANONYMOUS, graph: GRAPH, uploads: {} });
  /** The run starts and its node announces the output; returns once the output was asked for. */
  const runToExecuted = async (gen: { promptId: string }) => {
    const base = { promptId: gen.promptId, backend: 'stub' };
    stub.emit({ type: 'started', ...base });
    stub.emit({ type: 'executing', ...base, node: '2' });
    stub.emit({ type: 'executed', ...base, node: '2', outputs: [output] });
    await until(() => fetched.length === 1, 'the output to be asked for at executed, before the end');
    return base;
  };

  it('asks for an output at `executed`, before the run ends, and copies that answer (one fetch in all)', async () => {
    const gen = await create();
    const base = await runToExecuted(gen);
    stub.emit({ type: 'completed', ...base, outputs: [output] });
    const done = await probe.generations!.waitForEnd(gen.id, 5000);
    expect(done?.state).to.equal('completed');
    expect(done?.results.map((r) => [r.filename, r.size])).to.deep.equal([[output.filename, 9]]);
    expect(fetched, 'the copy took the answer asked for at executed').to.have.length(1);
  });

  it('closes the answer unread when the run fails after `executed`, and writes nothing', async () => {
    const gen = await create();
    const base = await runToExecuted(gen);
    stub.emit({ type: 'failed', ...base, node: '3', nodeType: 'X', exceptionType: 'RuntimeError', message: 'boom' });
    expect((await probe.generations!.waitForEnd(gen.id, 5000))?.state).to.equal('failed');
    await until(() => fetched[0]!.stream.destroyed, 'the unused body to be closed');
    expect(fetched).to.have.length(1);
    await until(() => !existsSync(join(bridge!.dataDir, 'results', gen.id)), 'no result folder to be left');
  });

  it('asks once more when the answer asked for ahead failed, and at most four outputs ahead', async () => {
    let calls = 0;
    const prefetch = new OutputPrefetch({
      fetchOutput: async (_backend, ref) => {
        calls += 1;
        if (calls === 1) throw new Error('reset');
        return { stream: Readable.from([Buffer.from(ref.filename)]), contentType: 'image/png', length: ref.filename.length };
      },
    });
    const refs = [1, 2, 3, 4, 5, 6].map((n) => ({ ...output, filename: `f${n}.png` }));
    prefetch.announce('b', refs);
    expect(calls).to.equal(4);
    expect(prefetch.pending).to.equal(4);
    const first = await prefetch.fetch('b', refs[0]!);
    expect(first.length, 'fetched again after the failed one').to.equal(6);
    expect(calls).to.equal(5);
    await prefetch.fetch('b', refs[5]!);
    expect(calls, 'one not asked for ahead is asked for now').to.equal(6);
    prefetch.drop();
    expect(prefetch.pending).to.equal(0);
  });
});
