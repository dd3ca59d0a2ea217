import { expect } from 'chai';
import { freshName, STORED_NAME } from '../plugins/upload/names.js';

/** plugins/upload/names.ts: stored names draw their 144 random bits from a batch of 256 names' worth, each byte used once. */
describe('upload: stored names', () => {
  it('are 144 fresh random bits each, across several refills of the batch', () => {
    const names = Array.from({ length: 1000 }, (_, index) => freshName(index % 2 === 0 ? 'png' : 'webp'));
    for (const name of names) {
      expect(name).to.match(STORED_NAME);
      expect(name).to.match(/^cb_[A-Za-z0-9_-]{24}\.(png|webp)$/);
    }
    const randoms = names.map((name) => name.slice(3, 27));
    expect(new Set(randoms).size, 'no two names alike').to.equal(names.length);
    // A batch used twice, or a name cut across two draws, would repeat 18-byte runs: every byte of every name is distinct in sequence.
    const bytes = Buffer.concat(randoms.map((random) => Buffer.from(random, 'base64url')));
    expect(bytes.length).to.equal(18 * names.length);
    const runs = new Set<string>();
    for (let at = 0; at + 8 <= bytes.length; at += 8) runs.add(bytes.toString('hex', at, at + 8));
    expect(runs.size, 'no 8-byte run repeats').to.equal(Math.floor(bytes.length / 8));
  });
});
