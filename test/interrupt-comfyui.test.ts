import { expect } from 'chai';
import type { Generation, GenerationState } from '../contracts/generation.js';
import type { GenerationService } from '../plugins/generations/api.js';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import type { RunningBridge } from './helpers/bridge.js';
import { startComfyBridge, type ComfyBridge } from './helpers/comfy-bridge.js';
import { until } from './helpers/until.js';

/** EmptyImage → TestSleep → SaveImage: the color makes each generation distinct (no cache hits), TestSleep makes it last. */
const SLEEP_GRAPH = {
  '1': { inputs: { width: 8, height: 8, batch_size: 1, color: 0 }, class_type: 'EmptyImage', _meta: { title: 'Empty Image', apiinput: 'color' } },
  '2': { inputs: { value: ['1', 0], seconds: 1 }, class_type: 'TestSleep', _meta: { title: 'Sleep' } },
  '3': { inputs: { filename_prefix: 'sleep', images: ['2', 0] }, class_type: 'SaveImage', _meta: { title: 'Save Image' } },
};

const SLEEP_MS = 1500;

describe('interrupt: against two fake ComfyUIs', () => {
  let fakes: FakeComfy[];
  let stack: ComfyBridge;
  let bridge: RunningBridge;
  let generations: GenerationService;

  beforeEach(async () => {
    fakes = [await startFakeComfy(), await startFakeComfy()];
    for (const fake of fakes) fake.setNodeDuration('TestSleep', SLEEP_MS);
    stack = await startComfyBridge({ fakes, workflows: { sleep: SLEEP_GRAPH }, plugins: { interrupt: {} } });
    ({ bridge, generations } = stack);
  });

  afterEach(() => stack.close());

  const generate = async (clientId: string, color: number): Promise<string> => {
    const response = await fetch(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workflow: 'sleep', '1/color': color }),
    });
    const body = (await response.json()) as { id: string };
    expect(response.status, JSON.stringify(body)).to.equal(200);
    return body.id;
  };
  const interrupt = async (query: string) => {
    const response = await fetch(`${bridge.url}/interrupt${query}`, { method: 'POST' });
    return { status: response.status, body: (await response.json()) as { id: string; status: GenerationState; detail: string } };
  };
  const stateOf = async (id: string): Promise<GenerationState> => (await generations.get(id))!.state;
  const ended = async (id: string): Promise<Generation> => {
    const gen = await generations.waitForEnd(id, 15_000);
    expect(gen, `generation ${id} ended`).not.to.equal(undefined);
    return gen!;
  };

  it("cancels one client's queued and running generations while another client's keeps running and completes", async () => {
    const other = await generate('client-b', 0x0000ff);
    await until(async () => (await stateOf(other)) === 'running', "client-b's generation to run", 10_000);
    // client-a's generations go to the other, idle backend: there they sleep 6 s (the fake stops a node only at its
    // progress points), so a slow machine cannot let the running one complete before its interrupt arrives.
    const otherBackend = (await generations.get(other))!.backend;
    fakes[otherBackend === 'one' ? 1 : 0]!.setNodeDuration('TestSleep', 6_000);
    const running = await generate('client-a', 0xff0000);
    await until(async () => (await stateOf(running)) === 'running', "client-a's first generation to run", 10_000);
    const queued = await generate('client-a', 0x00ff00);
    expect(await stateOf(queued)).to.equal('queued');
    const runningBackend = (await generations.get(running))!.backend;
    expect((await generations.get(other))!.backend).not.to.equal(runningBackend);

    // The queued one by id: removed from its ComfyUI queue.
    const byId = await interrupt(`?id=${queued}`);
    expect(byId.status).to.equal(200);
    expect(byId.body).to.include({ id: queued, status: 'interrupted' });
    expect(byId.body.detail).to.include('it was queued');
    // Then the client's current one, which is the running one now.
    const byClient = await interrupt('?clientId=client-a');
    expect(byClient.status).to.equal(200);
    expect(byClient.body).to.include({ id: running, status: 'interrupted' });
    expect(byClient.body.detail).to.include('it was running');

    expect((await ended(queued)).state).to.equal('interrupted');
    const stopped = await ended(running);
    expect(stopped.state).to.equal('interrupted');
    // ComfyUI itself stopped that prompt (its history says so), and never ran the removed one.
    const fake = fakes[stopped.backend === 'one' ? 0 : 1]!;
    const history = (await (await fetch(`${fake.url}/history/${stopped.promptId}`)).json()) as Record<string, { status: { messages: [string, unknown][] } }>;
    expect(history[stopped.promptId]!.status.messages.map(([type]) => type)).to.include('execution_interrupted');
    const queuedGen = (await generations.get(queued))!;
    expect(fakes.some((f) => f.prompts.some((p) => p.promptId === queuedGen.promptId))).to.equal(true);
    for (const f of fakes) expect(await (await fetch(`${f.url}/history/${queuedGen.promptId}`)).json()).to.deep.equal({});
    expect(await stateOf(other)).to.equal('running');
    const finished = await ended(other);
    expect(finished.state).to.equal('completed');
    expect(finished.results.length).to.be.greaterThan(0);

    // Nothing left: the latest answer reports the final state and cancels nothing.
    const again = await interrupt('?clientId=client-a');
    expect(again.status).to.equal(200);
    expect(again.body.status).to.equal('interrupted');
    expect(again.body.detail).to.include('had already ended');
    const done = await interrupt(`?clientId=client-b`);
    expect(done.body).to.include({ id: other, status: 'completed' });
  });

  it('answers 404 for a clientId with no generation and for an id of another client', async () => {
    const other = await generate('client-b', 0x123456);
    expect((await interrupt('?clientId=client-a')).status).to.equal(404);
    expect((await interrupt(`?id=${other}&clientId=client-a`)).status).to.equal(404);
    expect((await interrupt('?id=gen_doesnotexist')).status).to.equal(404);
    expect(['queued', 'running']).to.include(await stateOf(other));
    expect((await ended(other)).state).to.equal('completed');
  });
});
