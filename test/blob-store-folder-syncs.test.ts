import { expect } from 'chai';
import { DirectorySyncs } from '../contracts/directory-sync.js';

/** An fsync the test finishes when it wants: which folder, and how to end it. */
interface HeldSync {
  dir: string;
  finish: (error?: Error) => void;
}

describe('blob store: folder fsyncs group-committed (DirectorySyncs)', () => {
  let held: HeldSync[];
  let syncs: DirectorySyncs;
  beforeEach(() => {
    held = [];
    syncs = new DirectorySyncs(
      () => true,
      (dir) => new Promise<void>((resolve, reject) => held.push({ dir, finish: (error) => (error ? reject(error) : resolve()) })),
    );
  });
  /** Lets the promise jobs run (the next fsync starts in one). */
  const settle = () => new Promise((resolve) => setImmediate(resolve));

  it('covers requests made during an fsync with one later fsync, never with the one already on its way', async () => {
    let firstDone = false;
    const first = syncs.sync('/d').then(() => (firstDone = true));
    await settle();
    expect(held.map((h) => h.dir)).to.deep.equal(['/d']);
    // Three renames after the fsync began: it may not cover them.
    const later = [syncs.sync('/d'), syncs.sync('/d'), syncs.sync('/d')];
    let laterDone = 0;
    later.forEach((p) => void p.then(() => (laterDone += 1)));
    held[0]!.finish();
    await first;
    await settle();
    expect(firstDone).to.equal(true);
    expect(laterDone, 'not resolved by the first fsync').to.equal(0);
    expect(held, 'one fsync for the three').to.have.length(2);
    held[1]!.finish();
    await Promise.all(later);
    expect(laterDone).to.equal(3);
    // Nothing on its way: the next request starts its own at once.
    void syncs.sync('/d');
    await settle();
    expect(held).to.have.length(3);
  });

  it('keeps folders apart, and fails the requests an fsync covered when it fails', async () => {
    const a = syncs.sync('/a').then(
      () => 'ok',
      (error: Error) => error.message,
    );
    const b = syncs.sync('/b');
    await settle();
    expect(held.map((h) => h.dir)).to.deep.equal(['/a', '/b']);
    const a2 = syncs.sync('/a');
    held[0]!.finish(Object.assign(new Error('EIO'), { code: 'EIO' }));
    await settle();
    held[1]!.finish();
    expect(await a).to.equal('EIO');
    await b;
    // The request made during the failed fsync gets one of its own, which succeeds.
    await settle();
    expect(held).to.have.length(3);
    held[2]!.finish();
    await a2;
  });
});
