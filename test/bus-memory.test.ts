import { expect } from 'chai';
import type { BusMessage } from '../contracts/bus.js';
import { MemoryBus } from '../plugins/bus/memory-bus.js';

describe('bus: in-process', () => {
  let now = 1_000;
  const clock = () => now;
  const failures: unknown[] = [];
  const bus = (maxMessages = 3, maxAgeMs = 1_000) => new MemoryBus({ maxMessages, maxAgeMs }, (error) => failures.push(error), clock);

  beforeEach(() => {
    now = 1_000;
    failures.length = 0;
  });

  it('numbers messages per topic and delivers them in order to that topic only', async () => {
    const b = bus();
    const a: BusMessage[] = [];
    const other: BusMessage[] = [];
    b.subscribe('a', (m) => a.push(m));
    b.subscribe('b', (m) => other.push(m));
    await b.publish('a', 'x');
    await b.publish('a', 'y');
    const first = await b.publish('b', 'z');
    expect(a.map((m) => [m.seq, m.payload])).to.deep.equal([[1, 'x'], [2, 'y']]);
    expect(first.seq).to.equal(1);
    expect(other).to.have.length(1);
    expect(await b.lastSeq('a')).to.equal(2);
    expect(await b.lastSeq('none')).to.equal(0);
  });

  it('replays what came after a seq, within the count and age window', async () => {
    const b = bus(3, 1_000);
    for (const p of ['1', '2', '3', '4']) await b.publish('t', p);
    expect((await b.replay('t', 0)).map((m) => m.seq)).to.deep.equal([2, 3, 4]);
    expect((await b.replay('t', 3)).map((m) => m.seq)).to.deep.equal([4]);
    expect(await b.replay('t', 4)).to.deep.equal([]);
    now += 1_001;
    expect(await b.replay('t', 0)).to.deep.equal([]);
    expect(await b.lastSeq('t')).to.equal(4);
  });

  it('keeps delivering when one subscriber throws, and reports the failure', async () => {
    const b = bus();
    const seen: number[] = [];
    b.subscribe('t', () => {
      throw new Error('boom');
    });
    b.subscribe<number>('t', (m) => seen.push(m.payload));
    await b.publish('t', 7);
    expect(seen).to.deep.equal([7]);
    expect(failures).to.have.length(1);
  });

  it('stops delivering after unsubscribe and forgets quiet topics nobody listens to', async () => {
    const b = bus(3, 100);
    const seen: unknown[] = [];
    const off = b.subscribe('t', (m) => seen.push(m.payload));
    await b.publish('t', 1);
    off();
    await b.publish('t', 2);
    expect(seen).to.deep.equal([1]);
    const listened = b.subscribe('kept', () => undefined);
    await b.publish('kept', 1);
    now += 101;
    expect(b.sweep(100)).to.equal(1);
    expect(await b.lastSeq('t')).to.equal(0);
    expect(await b.lastSeq('kept')).to.equal(1);
    listened();
  });
});
