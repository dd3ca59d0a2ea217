import { expect } from 'chai';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { sleepGraph, startComfyBridge, type ComfyBridge } from './helpers/comfy-bridge.js';
import { until } from './helpers/until.js';
import { FrameReader } from './ws-client.js';

const SLEEP_GRAPH = sleepGraph('moves');

const KEY_A = 'movesA-Hj3kL8mN2pQ5rS9tV4';
const KEY_B = 'movesB-Wx7yZ1aB4cD8eF2gH6';

describe('fair share: a held generation hears when it moves up the bridge queue', function () {
  this.timeout(60_000);
  let fake: FakeComfy;
  let stack: ComfyBridge;
  let url: string;

  before(async () => {
    fake = await startFakeComfy();
    stack = await startComfyBridge({
      fakes: [fake],
      workflows: { sleep: SLEEP_GRAPH },
      plugins: {
        auth: { keys: [{ id: 'tenant-a', key: KEY_A }, { id: 'tenant-b', key: KEY_B }] },
        generations: { fairShare: { maxPromptsPerBackend: 1 } },
        interrupt: {},
        'execution-info': {},
        ws: {},
      },
    });
    url = stack.bridge.url;
  });
  after(() => stack.close());

  const generate = async (key: string, clientId: string, color: number) => {
    const response = await fetch(`${url}/generate-based-workflow?clientId=${clientId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ workflow: 'sleep', '1/color': color }),
    });
    const body = (await response.json()) as { id: string; position: number };
    expect(response.status, JSON.stringify(body)).to.equal(200);
    return body;
  };

  it("sends a frame with the smaller position once the generation ahead of it is released", async () => {
    fake.setNodeDuration('TestSleep', 30_000);
    const running = await generate(KEY_A, 'moves-a', 1);
    await until(() => fake.prompts.some((p) => p.accepted), 'the first prompt to reach ComfyUI', 10_000);
    const socket = await FrameReader.open(`${url.replace('http', 'ws')}/ws?clientId=moves-b`, { authorization: `Bearer ${KEY_B}` });
    try {
      // Held: A's next goes first (A's turn), then B's, both behind the running prompt.
      const aheadOfB = await generate(KEY_A, 'moves-a', 2);
      const waiting = await generate(KEY_B, 'moves-b', 3);
      expect(aheadOfB.position).to.equal(1);
      expect(waiting.position).to.equal(2);
      const first = await socket.next((frame) => frame.data?.id === waiting.id);
      expect(first.data).to.include({ state: 'queued', position: 2 });

      // The running one stops: A's held one is released to the backend, B's moves up to next in line.
      const stop = await fetch(`${url}/interrupt?id=${running.id}`, { method: 'POST', headers: { authorization: `Bearer ${KEY_A}` } });
      expect(stop.status).to.equal(200);
      const moved = await socket.next((frame) => frame.data?.id === waiting.id, 20_000);
      expect(moved.status).to.equal('progress');
      expect(moved.data).to.include({ state: 'queued', position: 1 });
      // What the frame says is what /execution-info says.
      const info = await fetch(`${url}/execution-info?id=${waiting.id}`, { headers: { authorization: `Bearer ${KEY_B}` } });
      expect(((await info.json()) as { data: { position: number } }).data.position).to.equal(1);
      expect(await stack.generations.get(aheadOfB.id)).to.have.property('backend', 'one');
    } finally {
      socket.ws.close();
      fake.setNodeDuration('TestSleep', 5);
    }
  });
});
