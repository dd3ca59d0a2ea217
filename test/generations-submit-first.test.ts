import { expect } from 'chai';
import { ANONYMOUS } from '../contracts/auth.js';
import type { Bus } from '../contracts/bus.js';
import { clientTopic, type ClientFrame } from '../contracts/client-frame.js';
import { MemoryBus } from '../plugins/bus/memory-bus.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { providing } from './helpers/fixture-plugins.js';
import { GRAPH, probePlugin, StubTransport, stubTransportPlugin, until, type Probe } from './generations-stub-transport.js';

/**
 * The answer path: once the row is in the datafile the prompt leaves at once, before the `queued` frame is
 * published (a bus across instances takes a round trip for it); the frames keep their order all the same.
 */
describe('generations: the prompt is submitted before the queued frame is published', () => {
  let bridge: RunningBridge | undefined;
  afterEach(async () => {
    await bridge?.close();
    bridge = undefined;
  });

  it('POSTs the prompt while the first frame is still being published, then applies the answer after it', async () => {
    const stub = new StubTransport();
    const memory = new MemoryBus({ maxMessages: 100, maxAgeMs: 60_000 }, () => undefined);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let held = 0;
    // A bus whose publishes on the client's topic wait for the gate (as a slow shared bus would).
    const bus: Bus = {
      publish: async (topic, payload) => {
        if (topic === clientTopic('client-1')) {
          held += 1;
          await gate;
        }
        return memory.publish(topic, payload);
      },
      subscribe: (topic, listener) => memory.subscribe(topic, listener),
      replay: (topic, since) => memory.replay(topic, since),
      lastSeq: (topic) => memory.lastSeq(topic),
    };
    const probe: Probe = {};
    bridge = await startBridge({
      plugins: { 'storage-nedb': { inMemory: true }, generations: {}, results: {} },
      extraPlugins: [providing('gated-bus', { bus }), stubTransportPlugin(stub), probePlugin(probe)],
    });
    const frames: string[] = [];
    memory.subscribe<ClientFrame>(clientTopic('client-1'), ({ payload }) => frames.push(String(payload.data.state)));
    const creating = probe.generations!.create({ workflow: 'tiny', clientId: 'client-1', principal: ANONYMOUS, graph: GRAPH, uploads: {} });
    await until(() => stub.submits.length === 1, 'the prompt to be submitted');
    expect(held, 'the queued frame is being published').to.equal(1);
    expect(frames, 'and has not reached the bus yet').to.deep.equal([]);
    open();
    const gen = await creating;
    expect(gen.state).to.equal('queued');
    expect(stub.submits[0]!.promptId).to.equal(gen.promptId);
    expect(frames[0]).to.equal('queued');
  });
});
