import { expect } from 'chai';
import type { GenerationService } from '../plugins/generations/api.js';
import { startFakeComfy } from './fake-comfyui/index.js';
import type { RunningBridge } from './helpers/bridge.js';
import { startComfyBridge, type ComfyBridge } from './helpers/comfy-bridge.js';
import { FrameReader, refusedUpgrade, wsUrl } from './ws-client.js';

const ADMIN_KEY = 'adm-Rt5yU8iO2pA4sD6fG9hJ';
const KEY_A = 'cliA-Zx3cV5bN7mQ9wE1rT4';
const KEY_B = 'cliB-Lk2jH4gF6dS8aP0oI3';

const IMAGE_GRAPH = {
  '1': { inputs: { width: 8, height: 8, batch_size: 1, color: 0 }, class_type: 'EmptyImage', _meta: { title: 'Empty Image', apiinput: 'color' } },
  '2': { inputs: { filename_prefix: 'bind', images: ['1', 0] }, class_type: 'SaveImage', _meta: { title: 'Save Image' } },
};

/** clientId bindings with the real plugins: made only by generating or uploading, never by watching. */
describe('auth: clientId bindings and the socket race', () => {
  let stack: ComfyBridge;
  let bridge: RunningBridge;
  let generations: GenerationService;
  const open: FrameReader[] = [];

  before(async () => {
    stack = await startComfyBridge({
      fakes: [await startFakeComfy()],
      workflows: { image: IMAGE_GRAPH },
      plugins: { auth: { keys: `${ADMIN_KEY}:admin,${KEY_A}:client,${KEY_B}:client` }, ws: {}, history: {}, interrupt: {} },
    });
    ({ bridge, generations } = stack);
  });
  after(async () => {
    for (const reader of open) reader.close();
    await stack.close();
  });

  const socket = async (clientId: string, key: string): Promise<FrameReader> => {
    const reader = await FrameReader.open(wsUrl(bridge.url, `?clientId=${clientId}`), { authorization: `Bearer ${key}` });
    open.push(reader);
    await reader.next((frame) => frame.status === 'connected');
    return reader;
  };
  const generate = async (clientId: string, key: string, color: number) => {
    const response = await fetch(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ workflow: 'image', '1/color': color }),
    });
    return { status: response.status, body: (await response.json()) as { id?: string; error?: string } };
  };
  const count = async (key: string) =>
    (await (await fetch(`${bridge.url}/generation-count`, { headers: { authorization: `Bearer ${key}` } })).json()) as {
      generation_count: number;
      by_status: Record<string, number>;
    };

  it('a socket key B opened on a clientId before key A bound it gets `error`, is closed, and sees none of A\'s frames', async () => {
    const squatter = await socket('tab-race', KEY_B);
    const owner = await socket('tab-race', KEY_A);
    const watcher = await socket('tab-race', ADMIN_KEY);

    const first = await generate('tab-race', KEY_A, 11);
    expect(first.status, JSON.stringify(first.body)).to.equal(200);
    const id = first.body.id!;

    expect(await squatter.next((frame) => frame.status === 'error')).to.deep.equal({ status: 'error', details: 'this clientId is now bound to another API key' });
    expect((await squatter.untilClosed()).code).to.equal(1008);
    // The owner (and the admin) follow the generation to its end.
    await owner.next((frame) => frame.status === 'closed' && frame.data?.id === id, 10_000);
    await watcher.next((frame) => frame.status === 'closed' && frame.data?.id === id, 10_000);
    expect((await generations.waitForEnd(id, 10_000))?.state).to.equal('completed');
    expect(squatter.generationFrames()).to.deep.equal([]);
    expect(squatter.frames.some((frame) => frame.data?.id === id)).to.equal(false);
    expect(owner.generationFrames().filter((frame) => frame.data?.id === id).length).to.be.greaterThan(0);

    // From now on B is refused outright: a new socket, a generate.
    expect((await refusedUpgrade(wsUrl(bridge.url, '?clientId=tab-race'), { authorization: `Bearer ${KEY_B}` })).status).to.equal(404);
    expect((await generate('tab-race', KEY_B, 12)).status).to.equal(404);
  });

  it('opening sockets, reading history and interrupting bind nothing: a squatter cannot lock the owner out', async () => {
    const guessable = ['tab-1', 'tab-2', 'tab-3'];
    for (const clientId of guessable) {
      await socket(clientId, KEY_B);
      expect((await fetch(`${bridge.url}/history?clientId=${clientId}`, { headers: { authorization: `Bearer ${KEY_B}` } })).status).to.equal(200);
      expect((await fetch(`${bridge.url}/interrupt?clientId=${clientId}`, { method: 'POST', headers: { authorization: `Bearer ${KEY_B}` } })).status).to.equal(404);
    }
    for (const [index, clientId] of guessable.entries()) {
      const answer = await generate(clientId, KEY_A, 20 + index);
      expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
      await generations.waitForEnd(answer.body.id!, 10_000);
    }
  });

  it('/generation-count counts a client key\'s own generations; the admin counts all', async () => {
    const ownA = await count(KEY_A);
    const ownB = await count(KEY_B);
    const all = await count(ADMIN_KEY);
    expect(ownA).to.deep.equal({ generation_count: 4, by_status: { queued: 0, running: 0, completed: 4, failed: 0, interrupted: 0 } });
    expect(ownB).to.deep.equal({ generation_count: 0, by_status: { queued: 0, running: 0, completed: 0, failed: 0, interrupted: 0 } });
    expect(all.generation_count).to.equal(4);
  });
});
