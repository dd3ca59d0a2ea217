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
});
