import { expect } from 'chai';
import { deflateSync } from 'node:zlib';
import { PngPixels } from '../plugins/upload/png-pixels.js';

/** The zlib stream of `rows` rows of `stride` bytes (filter byte 0, then `seed`-dependent bytes). */
function imageData(stride: number, rows: number, seed: number): Buffer {
  const raw = Buffer.alloc(stride * rows);
  for (let i = 0; i < raw.length; i++) raw[i] = i % stride === 0 ? 0 : (i * 31 + seed * 17) & 0xff;
  return deflateSync(raw);
}

/** Feeds several images to their PngPixels in turns of `piece` bytes each, then asks each whether its data is whole. */
async function interleaved(images: { pixels: PngPixels; data: Buffer }[], piece: number): Promise<boolean[]> {
  const longest = Math.max(...images.map(({ data }) => data.length));
  for (let at = 0; at < longest; at += piece) for (const { pixels, data } of images) pixels.feed(data.subarray(at, at + piece));
  return Promise.all(images.map(({ pixels }) => pixels.whole()));
}

/**
 * png-pixels.ts gives each synchronous inflater back, reset, once an image is judged, and the next image takes it: a
 * reused inflater must carry nothing from its last image (its verdict, its stream's end) and serve one image at a time.
 */
describe('upload: the PNG pixel check reuses its inflaters', () => {
  const whole = imageData(301, 40, 1);
  const other = imageData(97, 120, 2);
  const damaged = Buffer.from(whole);
  damaged[damaged.length - 1]! ^= 0xff; // its adler32
  const truncated = whole.subarray(0, whole.length - 10);

  it('judges images one after another, whole and damaged, each on its own data', async () => {
    for (let round = 0; round < 3; round++) {
      for (const [data, expected] of [
        [whole, true],
        [damaged, false],
        [whole, true],
        [truncated, false],
        [whole, true],
      ] as const) {
        const pixels = new PngPixels(301, 40);
        pixels.feed(data);
        expect(await pixels.whole(), `round ${round}`).to.equal(expected);
      }
    }
  });

  it('judges images whose data arrives interleaved, each with its own inflater', async () => {
    for (const piece of [1, 13, 500]) {
      const verdicts = await interleaved(
        [
          { pixels: new PngPixels(301, 40), data: whole },
          { pixels: new PngPixels(301, 40), data: damaged },
          { pixels: new PngPixels(97, 120), data: other },
          { pixels: new PngPixels(301, 40), data: truncated },
          { pixels: new PngPixels(97, 120), data: other },
        ],
        piece,
      );
      expect(verdicts, `pieces of ${piece}`).to.deep.equal([true, false, true, false, true]);
    }
  });

  it('gives an inflater back once, however often a failed request disposes of its image', async () => {
    const abandoned = new PngPixels(301, 40);
    abandoned.feed(whole.subarray(0, 50));
    abandoned.dispose();
    abandoned.dispose();
    expect(await abandoned.whole()).to.equal(false);
    // Given back twice, one inflater would now serve both of these.
    expect(await interleaved([{ pixels: new PngPixels(301, 40), data: whole }, { pixels: new PngPixels(97, 120), data: other }], 64)).to.deep.equal([true, true]);
  });
});
