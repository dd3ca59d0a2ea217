import { expect } from 'chai';
import { ANONYMOUS } from '../contracts/auth.js';
import type { Generation } from '../contracts/generation.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { makePng } from './upload-images.js';
import { GRAPH, probePlugin, StubTransport, stubTransportPlugin, until, type Probe } from './generations-stub-transport.js';

/**
 * A generation's end is shown to readers (execution-info, latestForClient) only once its row is stored:
 * a client polling must not see `completed`, nor a result URL, that the store cannot answer yet and a
 * crash would take back.
 */
describe('generations: an end is visible only once it is stored', () => {
  let bridge: RunningBridge | undefined;
  afterEach(async () => {
    await bridge?.close();
    bridge = undefined;
  });

  it('keeps answering the last stored state while the final row is being written', async () => {
    const stub = new StubTransport();
    stub.files.set('x_00001_.png', makePng(4, 3));
    const probe: Probe = {};
    bridge = await startBridge({
      plugins: { 'storage-nedb': { inMemory: true }, bus: {}, generations: {}, results: {}, 'execution-info': {} },
      extraPlugins: [stubTransportPlugin(stub), probePlugin(probe)],
    });
    const service = probe.generations!;
    const generations = probe.storage!.generations;
    // The final row's write waits for the gate, as a slow disk would make it.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let finalWrites = 0;
    const write = generations.write.bind(generations);
    generations.write = async (id: string, patch: Partial<Omit<Generation, 'id'>>) => {
      if (patch.state === 'completed') {
        finalWrites += 1;
        await gate;
      }
      return write(id, patch);
    };

    const gen = await service.create({ workflow: 'tiny', clientId: 'client-1', principal: ANONYMOUS, graph: GRAPH, uploads: {} });
    const base = { promptId: gen.promptId!, backend: 'stub' };
    stub.emit({ type: 'started', ...base });
    stub.emit({ type: 'executing', ...base, node: '2' });
    const outputs = [{ node: '2', kind: 'images', filename: 'x_00001_.png', subfolder: '', type: 'output' }];
    stub.emit({ type: 'executed', ...base, node: '2', outputs });
    stub.emit({ type: 'completed', ...base, outputs });
    await until(() => finalWrites === 1, 'the final row write to start');

    const shown = await service.get(gen.id);
    expect(shown?.state, 'not ended before it is stored').to.not.equal('completed');
    expect(shown?.results ?? []).to.deep.equal([]);
    expect((await service.latestForClient('client-1'))?.state).to.not.equal('completed');
    const answer = await fetch(`${bridge.url}/execution-info?id=${gen.id}`);
    const info = (await answer.json()) as { status: string };
    expect(answer.status, JSON.stringify(info)).to.equal(200);
    expect(info.status).to.equal('progress');

    open();
    const ended = await service.waitForEnd(gen.id, 5000);
    expect(ended?.state).to.equal('completed');
    expect((await service.get(gen.id))?.state).to.equal('completed');
    expect((await generations.get(gen.id))?.state, 'stored before it is shown').to.equal('completed');
    const result = await fetch(`${bridge.url}/results/${gen.id}/${ended!.results[0]!.filename}`);
    expect(result.status).to.equal(200);
  });
});
