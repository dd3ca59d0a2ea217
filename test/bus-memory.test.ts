import { expect } from 'chai';
import { MemoryBus } from '../plugins/bus/memory-bus.js';

/** What only the in-process bus does; the shared expectations are in bus-contract.test.ts. */
describe('bus: in-process', () => {
  let now = 1_000;
  const clock = () => now;
  const bus = (maxMessages = 3, maxAgeMs = 1_000) => new MemoryBus({ maxMessages, maxAgeMs }, () => undefined, clock);

  it('delivers during publish, before its promise resolves', () => {
    const b = bus();
    const seen: unknown[] = [];
    b.subscribe('t', (m) => seen.push(m.payload));
    void b.publish('t', 1);
    expect(seen).to.deep.equal([1]);
  });

  it('publishNow numbers, keeps and delivers the message before it returns, in one seq with publish', async () => {
    const b = bus();
    const seen: number[] = [];
    b.subscribe<number>('t', (m) => seen.push(m.seq));
    await b.publish('t', 'a');
    const message = b.publishNow('t', 'b');
    expect(message).to.deep.include({ topic: 't', seq: 2, payload: 'b' });
    expect(seen).to.deep.equal([1, 2]);
    expect((await b.replay('t', 1)).map((m) => m.payload)).to.deep.equal(['b']);
    expect(await b.lastSeq('t')).to.equal(2);
  });

  it('delivers to whoever is subscribed as subscribers come and go (one, two, the other one, none)', () => {
    const b = bus();
    const seen: string[] = [];
    const offA = b.subscribe<number>('t', (m) => seen.push(`a${m.seq}`));
    b.publishNow('t', 0);
    const offB = b.subscribe<number>('t', (m) => seen.push(`b${m.seq}`));
    b.publishNow('t', 0);
    offA();
    b.publishNow('t', 0);
    offB();
    b.publishNow('t', 0);
    expect(seen).to.deep.equal(['a1', 'a2', 'b2', 'b3']);
  });

  it('keeps the last maxMessages in order however many times the window wraps, and drops them by age from the oldest', async () => {
    const b = bus(3, 1_000);
    for (let i = 1; i <= 10; i++) {
      await b.publish('t', i);
      const kept = (await b.replay('t', 0)).map((m) => m.payload);
      expect(kept, `after ${i}`).to.deep.equal(Array.from({ length: Math.min(i, 3) }, (_, k) => i - Math.min(i, 3) + 1 + k));
    }
    expect((await b.replay('t', 8)).map((m) => m.seq)).to.deep.equal([9, 10]);
    now += 600;
    await b.publish('t', 11);
    now += 500;
    // 9 and 10 are 1,100 ms old now, 11 is 500 ms old.
    expect((await b.replay('t', 0)).map((m) => m.seq)).to.deep.equal([11]);
    await b.publish('t', 12);
    await b.publish('t', 13);
    await b.publish('t', 14);
    expect((await b.replay('t', 0)).map((m) => m.seq)).to.deep.equal([12, 13, 14]);
  });

  it('forgets quiet topics nobody listens to', async () => {
    const b = bus(3, 100);
    await b.publish('t', 1);
    const listened = b.subscribe('kept', () => undefined);
    await b.publish('kept', 1);
    now += 101;
    expect(b.sweep(100)).to.equal(1);
    expect(await b.lastSeq('t')).to.equal(0);
    expect(await b.lastSeq('kept')).to.equal(1);
    listened();
  });

  it('replays each kept message with its own seq, time and payload, the window wrapped and pruned by age', async () => {
    now = 1_000;
    const b = bus(3, 1_000);
    const live: unknown[] = [];
    b.subscribe('t', (m) => live.push(m));
    const payloads = [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }, { n: 5 }];
    for (const payload of payloads) {
      b.publishNow('t', payload);
      now += 100;
    }
    // 1 and 2 fell out of the window of 3; the rest come back as they were published, the payloads themselves.
    const replayed = await b.replay<{ n: number }>('t', 0);
    expect(replayed.map((m) => [m.topic, m.seq, m.at, m.payload.n])).to.deep.equal([
      ['t', 3, 1_200, 3],
      ['t', 4, 1_300, 4],
      ['t', 5, 1_400, 5],
    ]);
    expect(replayed[0]!.payload).to.equal(payloads[2]);
    expect(replayed).to.deep.equal(live.slice(2));
    expect((await b.replay('t', 4)).map((m) => m.seq)).to.deep.equal([5]);
    // 1,050 ms after 3 was published: 3 is dropped by age, 4 and 5 stay.
    now = 2_250;
    expect((await b.replay<{ n: number }>('t', 0)).map((m) => [m.seq, m.at])).to.deep.equal([
      [4, 1_300],
      [5, 1_400],
    ]);
    b.publishNow('t', { n: 6 });
    expect((await b.replay<{ n: number }>('t', 3)).map((m) => [m.seq, m.payload.n])).to.deep.equal([
      [4, 4],
      [5, 5],
      [6, 6],
    ]);
  });
});
