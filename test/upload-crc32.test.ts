import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { crc32 } from '../plugins/upload/crc32.js';

/** plugins/upload/crc32.ts: the PNG chunk checksum from @node-rs/crc32 where it loads; the same answers as node:zlib's. */
describe('upload: the CRC-32 of PNG chunks', () => {
  it('answers what node:zlib answers, whole and continued across any split', () => {
    for (const length of [0, 1, 4, 63, 64, 65, 1000, 70_000]) {
      const bytes = randomBytes(length);
      expect(crc32(bytes), `${length} bytes`).to.equal(zlibCrc32(bytes));
      for (const at of [0, 1, 3, Math.floor(length / 2), length - 1, length]) {
        if (at < 0 || at > length) continue;
        expect(crc32(bytes.subarray(at), crc32(bytes.subarray(0, at))), `${length} bytes split at ${at}`).to.equal(zlibCrc32(bytes));
      }
    }
    // The IEND chunk's fixed CRC, as every PNG ends.
    expect(crc32(Buffer.from('IEND', 'latin1'))).to.equal(0xae426082);
  });
});
