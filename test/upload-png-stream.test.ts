import { expect } from 'chai';
import { deflateSync } from 'node:zlib';
import { PngStream } from '../plugins/upload/png-stream.js';
import { idatData, makeApng, makePng, pngChunk, withChunkAfterHeader, withIdatData } from './upload-images.js';

/** Streams `bytes` through a PngStream in pieces of `piece` bytes and returns its verdict. */
async function verdictOf(bytes: Buffer, piece = 7, maxPixels = 1_000_000): Promise<{ width: number; height: number } | undefined> {
  const stream = new PngStream(maxPixels);
  for (let at = 0; at < bytes.length; at += piece) stream.push(bytes.subarray(at, at + piece));
  return stream.verdict();
}

/** A PNG's raw rows (filter byte 0 + RGB) for `makePng`-like images, to build damaged streams from. */
function rawRows(width: number, height: number, filter = 0): Buffer {
  const raw = Buffer.alloc((1 + width * 3) * height, 0x40);
  for (let y = 0; y < height; y++) raw[y * (1 + width * 3)] = filter;
  return raw;
}

describe('upload: the streamed PNG proof (png-stream.ts)', () => {
  it('proves a plain PNG whatever the pieces it arrives in, and gives its size', async () => {
    const png = makePng(33, 17, { noise: true });
    for (const piece of [1, 7, 64, 4096, png.length]) expect(await verdictOf(png, piece), `pieces of ${piece}`).to.deep.equal({ width: 33, height: 17 });
  });

  it('proves a PNG split over several IDAT chunks, with colour chunks before them', async () => {
    const png = makePng(20, 10, { noise: true });
    const data = idatData(png);
    const split = [pngChunk('IDAT', data.subarray(0, 100)), pngChunk('IDAT', data.subarray(100))];
    const gamma = pngChunk('gAMA', Buffer.from([0, 0, 0xb1, 0x8f]));
    const rebuilt = Buffer.concat([png.subarray(0, 33), gamma, ...split, png.subarray(png.length - 12)]);
    expect(await verdictOf(rebuilt)).to.deep.equal({ width: 20, height: 10 });
  });

  it('leaves everything else to the full path (never proves it)', async () => {
    const png = makePng(16, 12, { noise: true });
    const damagedCrc = Buffer.from(png);
    damagedCrc[40] = damagedCrc[40]! ^ 0xff;
    const cases: Record<string, Buffer> = {
      'a text chunk': withChunkAfterHeader(png, pngChunk('tEXt', Buffer.from('Comment\0<script>', 'latin1'))),
      'an APNG': makeApng(8, 8, 3),
      'a wrong CRC': damagedCrc,
      'a byte after IEND': Buffer.concat([png, Buffer.from([0])]),
      'a truncated file': png.subarray(0, png.length - 20),
      'no signature': png.subarray(8),
      'a damaged zlib stream with a right CRC': withIdatData(png, Buffer.concat([idatData(png).subarray(0, 30), Buffer.alloc(40, 0xff), idatData(png).subarray(70)])),
      'rows missing': withIdatData(png, deflateSync(rawRows(16, 11))),
      'a row too many': withIdatData(png, deflateSync(rawRows(16, 13))),
      'a filter type over 4': withIdatData(png, deflateSync(rawRows(16, 12, 5))),
      'bytes after the zlib stream in IDAT': withIdatData(png, Buffer.concat([deflateSync(rawRows(16, 12)), Buffer.from('<html>')])),
      'an interlaced image': (() => {
        const copy = Buffer.from(png);
        copy[8 + 8 + 12] = 1;
        return Buffer.concat([copy.subarray(0, 8), pngChunk('IHDR', copy.subarray(16, 29)), copy.subarray(33)]);
      })(),
      'a header over maxPixels': makePng(1, 1, { declaredWidth: 2000, declaredHeight: 1000 }),
    };
    for (const [name, bytes] of Object.entries(cases)) expect(await verdictOf(bytes), name).to.equal(undefined);
  });

  it('checks the pixel limit it is given', async () => {
    const png = makePng(40, 30, { noise: true });
    expect(await verdictOf(png, 64, 1200)).to.deep.equal({ width: 40, height: 30 });
    expect(await verdictOf(png, 64, 1199)).to.equal(undefined);
  });
});
