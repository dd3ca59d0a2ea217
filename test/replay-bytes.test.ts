import { expect } from 'chai';
import { WebSocket } from 'ws';
import { postJson, startStack, type Stack } from './e2e-support.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { until } from './helpers/until.js';
import { wsUrl } from './ws-client.js';

/** Every text frame a socket receives, as sent (not parsed). */
function rawFrames(url: string): { texts: string[]; opened: Promise<void>; socket: WebSocket } {
  const socket = new WebSocket(url);
  const texts: string[] = [];
  socket.on('message', (data, isBinary) => void (isBinary || texts.push(data.toString())));
  socket.on('error', () => undefined);
  return {
    texts,
    socket,
    opened: new Promise((resolve, reject) => socket.once('open', () => resolve()).once('error', reject)),
  };
}

/** The frames of a generation (numbered), as their bytes. */
const generationFrames = (texts: string[]): string[] => texts.filter((text) => text.includes('"seq":'));

/**
 * A generation's frames replayed (`since=0`) are the bytes its frames were sent with live (the hub wrote those
 * from the machine's template, the replay with JSON.stringify of the kept frame): on the in-process bus, which
 * keeps the frame object, and on bus-postgres, which keeps it as JSON in a table. A change to what a bus keeps
 * for replay (docs/performance.md, "Fan-out, wave 14") must keep this.
 */
describe('replay: the kept frames, byte for byte', function () {
  this.timeout(30_000);
  let stack: Stack | undefined;
  let db: TestDatabase | undefined;
  const sockets: WebSocket[] = [];

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.terminate();
    await stack?.stop();
    stack = undefined;
    await db?.drop();
    db = undefined;
  });

  async function liveThenReplayed(clientId: string): Promise<{ live: string[]; replayed: string[] }> {
    stack!.fake.setNodeDuration('TestSleep', 300);
    const live = rawFrames(wsUrl(stack!.bridge.url, `?clientId=${clientId}`));
    sockets.push(live.socket);
    await live.opened;
    const answer = await postJson(`${stack!.bridge.url}/generate-based-workflow?clientId=${clientId}`, { workflow: 'sleepy' });
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    await until(() => live.texts.some((text) => text.startsWith('{"status":"closed"')), 'the live closed frame', 10_000);
    const replay = rawFrames(wsUrl(stack!.bridge.url, `?clientId=${clientId}&since=0`));
    sockets.push(replay.socket);
    await replay.opened;
    await until(() => replay.texts.some((text) => text.startsWith('{"status":"closed"')), 'the replayed closed frame', 10_000);
    return { live: generationFrames(live.texts), replayed: generationFrames(replay.texts) };
  }

  function expectSameBytes({ live, replayed }: { live: string[]; replayed: string[] }): void {
    // Progress frames in the middle of the run (a step of the sampler): the ones written live from a template.
    const midway = live.filter((text) => /^\{"status":"progress","details":"(?!0\.00%|100\.00%)/.test(text));
    expect(midway.length, live.join('\n')).to.be.at.least(2);
    expect(replayed).to.deep.equal(live);
  }

  it('on the in-process bus', async () => {
    stack = await startStack({});
    expectSameBytes(await liveThenReplayed('kept-memory'));
  });

  it('on bus-postgres', async () => {
    db = await createTestDatabase();
    stack = await startStack({ plugins: { 'storage-nedb': false, 'storage-postgres': { url: db.url }, bus: false, 'bus-postgres': { url: db.url } } });
    expectSameBytes(await liveThenReplayed('kept-postgres'));
  });
});
