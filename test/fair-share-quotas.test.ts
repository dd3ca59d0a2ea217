import { expect } from 'chai';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import type { RunningBridge } from './helpers/bridge.js';
import { sleepGraph, startComfyBridge, type ComfyBridge } from './helpers/comfy-bridge.js';
import type { GenerationService } from '../plugins/generations/api.js';

const SLEEP_GRAPH = sleepGraph('quota');

const KEYS = {
  active: 'quotaActive-Hj3kL8mN2pQ5',
  minute: 'quotaMinute-Wx7yZ1aB4cD8',
  day: 'quotaDay-Pq2rS5tU8vW1xY4z',
  plain: 'quotaPlain-Mn6bV9cX2zL5kJ',
};

interface Answer {
  status: number;
  retryAfter: string | null;
  body: { id?: string; error?: string; detail?: string; limit?: string };
}

describe('fair share: per-key quotas at generate', function () {
  this.timeout(60_000);
  let fake: FakeComfy;
  let stack: ComfyBridge;
  let bridge: RunningBridge;
  let generations: GenerationService;
  let color = 0;

  before(async () => {
    fake = await startFakeComfy();
    stack = await startComfyBridge({
      fakes: [fake],
      workflows: { sleep: SLEEP_GRAPH },
      plugins: {
        auth: {
          keys: [
            { id: 'active', key: KEYS.active },
            { id: 'minute', key: KEYS.minute },
            { id: 'day', key: KEYS.day },
            { id: 'plain', key: KEYS.plain },
          ],
        },
        generate: {
          quotas: {
            default: { perDay: 1 },
            keys: { active: { maxActive: 2 }, minute: { perMinute: 3 }, day: { perDay: 2, perMinute: 10 } },
          },
        },
      },
    });
    ({ bridge, generations } = stack);
  });
  after(() => stack.close());

  const generate = async (key: string, clientId: string): Promise<Answer> => {
    const response = await fetch(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ workflow: 'sleep', '1/color': ++color }),
    });
    return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as Answer['body'] };
  };
  const accepted = async (key: string, clientId: string): Promise<string> => {
    const answer = await generate(key, clientId);
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    return answer.body.id!;
  };
  /** Waits for the accepted ones to end, then checks ComfyUI got exactly those: nothing refused ran, nor runs later. */
  const onlyAcceptedRan = async (ids: string[]) => {
    for (const id of ids) expect((await generations.waitForEnd(id, 20_000))?.state, `generation ${id}`).to.equal('completed');
    await fake.waitForIdle();
    const ran = new Set(fake.prompts.filter((p) => p.accepted).map((p) => p.promptId));
    const ours = await Promise.all(ids.map(async (id) => (await generations.get(id))!.promptId));
    for (const promptId of ours) expect(ran.has(promptId)).to.equal(true);
    return ran.size;
  };
  const expectRefused = (answer: Answer, limit: string, keyId: string) => {
    expect(answer.status, JSON.stringify(answer.body)).to.equal(429);
    expect(answer.body.error).to.equal('quota_exceeded');
    expect(answer.body.limit).to.equal(limit);
    expect(answer.body.detail).to.include(`API key ${keyId}`).and.to.include(`quota ${limit}`);
    expect(Number(answer.retryAfter)).to.be.at.least(1);
  };

  it('refuses a third active generation of a key with maxActive 2, submits nothing for it, and accepts again once one ended', async () => {
    fake.setNodeDuration('TestSleep', 1000);
    const before = fake.prompts.length;
    const ids = [await accepted(KEYS.active, 'act-1'), await accepted(KEYS.active, 'act-2')];
    const refused = await generate(KEYS.active, 'act-3');
    expectRefused(refused, 'maxActive', 'active');
    expect(refused.body.detail).to.include('2 generations queued or running');
    expect(fake.prompts.length - before).to.equal(2);
    fake.setNodeDuration('TestSleep', 5);
    expect(await onlyAcceptedRan(ids)).to.equal(before + 2);
    // Room again: the quota counts what is active now, nothing the refused request left behind.
    const again = await accepted(KEYS.active, 'act-3');
    expect((await generations.waitForEnd(again, 20_000))?.state).to.equal('completed');
  });

  it('refuses the fourth generation within a minute of a key with perMinute 3, with a Retry-After of at most a minute', async () => {
    const before = fake.prompts.length;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await accepted(KEYS.minute, `min-${i}`));
    const refused = await generate(KEYS.minute, 'min-3');
    expectRefused(refused, 'perMinute', 'minute');
    expect(Number(refused.retryAfter)).to.be.at.most(60);
    expect(await onlyAcceptedRan(ids)).to.equal(before + 3);
    // Another key is not touched by this one's quota.
    expect((await generate(KEYS.day, 'other-key')).status).to.equal(200);
  });

  it('refuses past perDay (the key listed) and past the default quota (a key not listed), each for about a day', async () => {
    const dayIds: string[] = [];
    // One day-key generation was accepted by the test before; one more fits.
    dayIds.push(await accepted(KEYS.day, 'day-2'));
    const before = fake.prompts.length;
    const refused = await generate(KEYS.day, 'day-3');
    expectRefused(refused, 'perDay', 'day');
    expect(Number(refused.retryAfter)).to.be.greaterThan(86_000);

    const plain = await accepted(KEYS.plain, 'plain-1');
    const refusedPlain = await generate(KEYS.plain, 'plain-2');
    expectRefused(refusedPlain, 'perDay', 'plain');
    expect(await onlyAcceptedRan([...dayIds, plain])).to.equal(before + 1);
  });
});
