import { expect } from 'chai';
import { deflateSync } from 'node:zlib';
import { PngStream } from '../plugins/upload/png-stream.js';
import { idatData, makeApng, makePng, pngChunk, withChunkAfterHeader, withIdatData } from './upload-images.js';

/** Streams `bytes` through a PngStream in pieces of `piece` bytes: its verdict, and the bytes it said to write. */
async function streamed(bytes: Buffer, piece = 7, maxPixels = 1_000_000): Promise<{ verdict: { width: number; height: number } | undefined; written: Buffer }> {
  const stream = new PngStream(maxPixels);
  const written: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += piece) written.push(...stream.push(bytes.subarray(at, at + piece)));
  written.push(...stream.end());
  return { verdict: await stream.verdict(), written: Buffer.concat(written) };
}

/** The verdict; every file it does not drop a chunk from is written exactly as it came. */
async function verdictOf(bytes: Buffer, piece = 7, maxPixels = 1_000_000): Promise<{ width: number; height: number } | undefined> {
  const { verdict, written } = await streamed(bytes, piece, maxPixels);
  expect(written.equals(bytes), 'written as it came').to.equal(true);
  return verdict;
}

const text = (keyword: string, value: string) => pngChunk('tEXt', Buffer.from(`${keyword}\0${value}`, 'latin1'));

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
      'an unknown ancillary chunk': withChunkAfterHeader(png, pngChunk('htMl', Buffer.from('<script>', 'latin1'))),
      'a text chunk after the image data': Buffer.concat([png.subarray(0, png.length - 12), text('Comment', '<script>'), png.subarray(png.length - 12)]),
      'an ICC profile': withChunkAfterHeader(png, pngChunk('iCCP', Buffer.from('icc\0\0xyz', 'latin1'))),
      'an APNG': makeApng(8, 8, 3),
      'a wrong CRC': damagedCrc,
      'a byte after IEND': Buffer.concat([png, Buffer.from([0])]),
      'a truncated file': png.subarray(0, png.length - 20),
      'no signature': png.subarray(8),
      'a damaged zlib stream with a right CRC': withIdatData(png, Buffer.concat([idatData(png).subarray(0, 30), Buffer.alloc(40, 0xff), idatData(png).subarray(70)])),
      'rows missing': withIdatData(png, deflateSync(rawRows(16, 11))),
      'a row too many': withIdatData(png, deflateSync(rawRows(16, 13))),
      'a filter type over 4': withIdatData(png, deflateSync(rawRows(16, 12, 5))),
      'a wrong zlib checksum (adler32)': withIdatData(png, (() => {
        const data = deflateSync(rawRows(16, 12));
        data[data.length - 1] = data[data.length - 1]! ^ 0x01;
        return data;
      })()),
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

  it('gives each PNG an inflater of its own, reused safely after damaged PNGs and repeated disposals (png-pixels.ts)', async () => {
    const good = makePng(40, 30, { noise: true });
    const kinds = [
      { bytes: good, verdict: { width: 40, height: 30 } },
      // zlib refuses it: its inflater is destroyed, never reused.
      { bytes: withIdatData(good, Buffer.concat([idatData(good).subarray(0, 30), Buffer.alloc(40, 0xff), idatData(good).subarray(70)])), verdict: undefined },
      // zlib accepts it, the row count does not: its inflater is reset and reused.
      { bytes: withIdatData(good, deflateSync(rawRows(40, 29))), verdict: undefined },
    ];
    for (let pass = 0; pass < 2; pass++) {
      // Requests that failed halfway: both the receiver and the route dispose of their checks.
      for (let i = 0; i < 3; i++) {
        const stream = new PngStream(1_000_000);
        stream.push(good.subarray(0, good.length / 2));
        stream.dispose();
        stream.dispose();
      }
      // Twelve PNGs streaming at once, fed in turns: two of them sharing an inflater would mix their zlib streams.
      const files = Array.from({ length: 12 }, (_, index) => kinds[index % kinds.length]!);
      const streams = files.map(() => new PngStream(1_000_000));
      for (let at = 0; at < good.length + 100; at += 50) files.forEach((file, index) => streams[index]!.push(file.bytes.subarray(at, at + 50)));
      const verdicts = await Promise.all(streams.map((stream) => (stream.end(), stream.verdict())));
      verdicts.forEach((verdict, index) => expect(verdict, `pass ${pass}, file ${index}`).to.deep.equal(files[index]!.verdict));
    }
  });

  it('drops text and time chunks before the image data, whatever the pieces: what it writes is the PNG without them, proven', async () => {
    const png = makePng(24, 10, { noise: true });
    const afterHeader = 8 + 25;
    const gamma = pngChunk('gAMA', Buffer.from([0, 0, 0xb1, 0x8f]));
    const workflow = text('workflow', JSON.stringify({ 3: { class_type: 'KSampler', inputs: { seed: 42 } } }));
    const itxt = pngChunk('iTXt', Buffer.from('prompt\0\0\0\0{"secret":1}', 'latin1'));
    const ztxt = pngChunk('zTXt', Buffer.concat([Buffer.from('Comment\0\0', 'latin1'), deflateSync('hidden')]));
    const time = pngChunk('tIME', Buffer.from([0x07, 0xea, 12, 2, 3, 4, 5]));
    const withText = Buffer.concat([png.subarray(0, afterHeader), workflow, gamma, itxt, ztxt, time, png.subarray(afterHeader)]);
    const plain = Buffer.concat([png.subarray(0, afterHeader), gamma, png.subarray(afterHeader)]);
    for (const piece of [1, 3, 7, 64, 4096, withText.length]) {
      const { verdict, written } = await streamed(withText, piece);
      expect(verdict, `pieces of ${piece}`).to.deep.equal({ width: 24, height: 10 });
      expect(written.equals(plain), `pieces of ${piece}: written without the text`).to.equal(true);
    }
  });

  it('drops a text chunk even when the file then takes the full path, and writes every other byte as it came', async () => {
    const png = makePng(16, 12, { noise: true });
    const unknown = pngChunk('htMl', Buffer.from('<script>', 'latin1'));
    const withBoth = Buffer.concat([withChunkAfterHeader(png, unknown).subarray(0, 33), text('Comment', 'secret'), withChunkAfterHeader(png, unknown).subarray(33)]);
    for (const piece of [1, 5, 64, withBoth.length]) {
      const { verdict, written } = await streamed(withBoth, piece);
      expect(verdict, `pieces of ${piece}`).to.equal(undefined);
      expect(written.equals(withChunkAfterHeader(png, unknown)), `pieces of ${piece}`).to.equal(true);
    }
    // A text chunk whose CRC is wrong is still not written; the file is not proven.
    const broken = text('Comment', 'secret');
    broken[broken.length - 1] = broken[broken.length - 1]! ^ 0xff;
    const { verdict, written } = await streamed(withChunkAfterHeader(png, broken), 9);
    expect(verdict).to.equal(undefined);
    expect(written.equals(png)).to.equal(true);
  });

  it('writes the bytes of a header it held when the file ends inside it', async () => {
    const png = makePng(8, 8);
    const truncated = png.subarray(0, 33 + 5);
    for (const piece of [1, 4, 36]) expect(await verdictOf(truncated, piece)).to.equal(undefined);
  });

  it('streams the image data of a large image through the inflater (not held) and checks it the same', async () => {
    // 2000×1500 RGB inflates to 9 MB, past what is inflated in one call: the streamed path.
    const [width, height] = [2000, 1500];
    const png = withIdatData(makePng(1, 1, { declaredWidth: width, declaredHeight: height }), deflateSync(rawRows(width, height)));
    expect(await verdictOf(png, 65536, 4_000_000)).to.deep.equal({ width, height });
    const damaged: Record<string, Buffer> = {
      'rows missing': withIdatData(png, deflateSync(rawRows(width, height - 1))),
      'a row too many': withIdatData(png, deflateSync(rawRows(width, height + 1))),
      'a filter type over 4': withIdatData(png, deflateSync(rawRows(width, height, 7))),
      'a truncated zlib stream': withIdatData(png, deflateSync(rawRows(width, height)).subarray(0, 3000)),
      'bytes after the zlib stream': withIdatData(png, Buffer.concat([deflateSync(rawRows(width, height)), Buffer.from('<html>')])),
    };
    for (const [name, bytes] of Object.entries(damaged)) expect(await verdictOf(bytes, 65536, 4_000_000), name).to.equal(undefined);
  });

  it('checks the pixel limit it is given', async () => {
    const png = makePng(40, 30, { noise: true });
    expect(await verdictOf(png, 64, 1200)).to.deep.equal({ width: 40, height: 30 });
    expect(await verdictOf(png, 64, 1199)).to.equal(undefined);
  });
});
