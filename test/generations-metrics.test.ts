import { expect } from 'chai';
import { ANONYMOUS } from '../contracts/auth.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { GRAPH, probePlugin, StubTransport, stubTransportPlugin, type Probe } from './generations-stub-transport.js';
import { makePng } from './upload-images.js';

/** metrics counts generations through the generations service's own hooks, tapped by name. */
describe('generations hooks in /metrics', () => {
  let bridge: RunningBridge | undefined;
  afterEach(async () => {
    await bridge?.close();
    bridge = undefined;
  });

  it('counts created and settled generations, by final state', async () => {
    const stub = new StubTransport();
    stub.files.set('x_00001_.png', makePng(2, 2));
    const probe: Probe = {};
    bridge = await startBridge({
      plugins: { 'storage-nedb': { inMemory: true }, bus: {}, generations: {}, results: {}, metrics: {} },
      extraPlugins: [stubTransportPlugin(stub), probePlugin(probe)],
    });
    const service = probe.generations!;
    expect(service.hooks.created.taps.map((tap) => tap.name)).to.include('metrics');
    expect(service.hooks.settled.taps.map((tap) => tap.name)).to.include('metrics');
    const request = { workflow: 'tiny', clientId: 'm1', principal: ANONYMOUS, graph: GRAPH, uploads: {} };
    const done = await service.create(request);
    const failed = await service.create(request);
    await service.create(request); // still queued: created, not finished
    const outputs = [{ node: '2', kind: 'images', filename: 'x_00001_.png', subfolder: '', type: 'output' }];
    stub.emit({ type: 'completed', promptId: done.promptId, backend: 'stub', outputs });
    stub.emit({ type: 'failed', promptId: failed.promptId, backend: 'stub', node: null, nodeType: null, exceptionType: null, message: 'boom' });
    await service.waitForEnd(done.id, 3000);
    await service.waitForEnd(failed.id, 3000);
    const text = await (await fetch(`${bridge.url}/metrics`)).text();
    expect(text).to.match(/^comfy_bridge_generations_created_total 3$/m);
    expect(text).to.match(/^comfy_bridge_generations_finished_total\{state="completed"\} 1$/m);
    expect(text).to.match(/^comfy_bridge_generations_finished_total\{state="failed"\} 1$/m);
    expect(text).to.match(/^comfy_bridge_generation_duration_seconds_count\{state="completed"\} 1$/m);
  });
});
