import { expect } from 'chai';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import type { RunningBridge } from './helpers/bridge.js';
import { sleepGraph, startComfyBridge, type ComfyBridge } from './helpers/comfy-bridge.js';
import { until } from './helpers/until.js';
import { FrameReader } from './ws-client.js';

const SLEEP_GRAPH = sleepGraph('fair');

const KEY_A = 'fairA-Hj3kL8mN2pQ5rS9tV4';
const KEY_B = 'fairB-Wx7yZ1aB4cD8eF2gH6';
/** Colors of key A's requests are 1..200, key B's 1001..1005: the fake's received graphs say whose each prompt is. */
const B_BASE = 1000;

interface Queued {
  id: string;
  position: number;
  status: string;
}

describe('fair share: the bridge queue releases round-robin across keys', function () {
  this.timeout(120_000);
  let fake: FakeComfy;
  let stack: ComfyBridge;
  let bridge: RunningBridge;

  beforeEach(async () => {
    fake = await startFakeComfy();
    stack = await startComfyBridge({
      fakes: [fake],
      workflows: { sleep: SLEEP_GRAPH },
      plugins: {
        auth: { keys: [{ id: 'tenant-a', key: KEY_A }, { id: 'tenant-b', key: KEY_B }] },
        generate: { maxActivePerClient: 1000 },
        generations: { fairShare: { maxPromptsPerBackend: 1 } },
        interrupt: {},
        'execution-info': {},
        ws: {},
      },
    });
    ({ bridge } = stack);
  });
  afterEach(() => stack.close());

  const generate = async (key: string, clientId: string, color: number): Promise<Queued> => {
    const response = await fetch(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ workflow: 'sleep', '1/color': color }),
    });
    const body = (await response.json()) as Queued;
    expect(response.status, JSON.stringify(body)).to.equal(200);
    return body;
  };
  const positionOf = async (key: string, id: string): Promise<number> => {
    const response = await fetch(`${bridge.url}/execution-info?id=${id}`, { headers: { authorization: `Bearer ${key}` } });
    expect(response.status).to.equal(200);
    const body = (await response.json()) as { data: { position: number; state: string } };
    expect(body.data.state).to.equal('queued');
    return body.data.position;
  };
  /** The colors ComfyUI received, in the order it received them. */
  const received = () => fake.prompts.filter((p) => p.accepted).map((p) => (p.graph['1'] as { inputs: { color: number } }).inputs.color);

  it("lets a key sending 5 jobs wait at most one slot per job while another key floods 200, and counts the bridge queue in positions", async () => {
    // The first prompt runs (30 s, its interrupt lands within a 6 s tick) until it is interrupted: everything after it is held meanwhile.
    fake.setNodeDuration('TestSleep', 30_000);
    const first = await generate(KEY_A, 'flood', 1);
    await until(() => received().length === 1, 'the first prompt to reach ComfyUI', 10_000);
    const flood: Queued[] = [first];
    for (let batch = 0; batch < 10; batch++) {
      const colors = Array.from({ length: 20 }, (_, i) => 2 + batch * 20 + i).filter((color) => color <= 200);
      flood.push(...(await Promise.all(colors.map((color) => generate(KEY_A, 'flood', color)))));
    }
    expect(flood).to.have.length(200);
    // Held: ComfyUI got nothing more; each answer counts the held ones before it plus the running prompt.
    expect(received()).to.deep.equal([1]);
    const byColor = new Map(flood.map((q, i) => [i + 1, q]));
    expect(byColor.get(2)!.position).to.equal(1);
    expect(byColor.get(200)!.position).to.equal(199);

    const socket = await FrameReader.open(`${bridge.url.replace('http', 'ws')}/ws?clientId=polite`, { authorization: `Bearer ${KEY_B}` });
    const polite: Queued[] = [];
    for (let i = 1; i <= 5; i++) polite.push(await generate(KEY_B, 'polite', B_BASE + i));
    expect(received()).to.deep.equal([1]);
    // B's first job is next but one (A's turn comes first, then B's), behind the running prompt; its first frame says so too.
    expect(polite[0]!.position).to.equal(2);
    const firstFrame = await socket.next((frame) => frame.data?.id === polite[0]!.id);
    expect(firstFrame.data).to.include({ state: 'queued', position: 2 });
    socket.ws.close();
    expect(polite[4]!.position).to.equal(10);
    // A's last job now waits for B's five too: 198 of A's and 5 of B's before it, 1 running.
    expect(await positionOf(KEY_A, byColor.get(200)!.id)).to.equal(204);
    expect(await positionOf(KEY_A, byColor.get(3)!.id)).to.equal(3);
    // Interrupted while held: it ends at once and never reaches ComfyUI; the ones behind it move up.
    const dropped = await fetch(`${bridge.url}/interrupt?id=${byColor.get(4)!.id}`, { method: 'POST', headers: { authorization: `Bearer ${KEY_A}` } });
    expect(dropped.status).to.equal(200);
    expect(((await dropped.json()) as { status: string }).status).to.equal('interrupted');
    expect(await positionOf(KEY_A, byColor.get(200)!.id)).to.equal(203);

    fake.setNodeDuration('TestSleep', 5);
    const stop = await fetch(`${bridge.url}/interrupt?id=${first.id}`, { method: 'POST', headers: { authorization: `Bearer ${KEY_A}` } });
    expect(stop.status).to.equal(200);
    await until(() => received().filter((color) => color > B_BASE).length === 5, "all of B's jobs to reach ComfyUI", 60_000);

    // Every B job reached ComfyUI after at most one A job since B's previous one (or since B sent its jobs).
    const order = received();
    let aSince = 0;
    for (const color of order.slice(1)) {
      if (color > B_BASE) {
        expect(aSince, `A jobs before B's job ${color - B_BASE}: ${order.join(',')}`).to.be.at.most(1);
        aSince = 0;
      } else {
        aSince++;
      }
    }
    const bJobs = order.filter((color) => color > B_BASE);
    expect(bJobs).to.deep.equal([1001, 1002, 1003, 1004, 1005]);
    // A's jobs still go in their own order.
    const aJobs = order.filter((color) => color <= 200);
    expect(aJobs).to.deep.equal([...aJobs].sort((x, y) => x - y));
    expect(aJobs).not.to.include(4);
  });
});
