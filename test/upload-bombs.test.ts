import { expect } from 'chai';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { makeAnimatedGif, makeApng, makeGif, makeJpeg, makePng, makeWebp } from './upload-images.js';
import { form, postUpload, samePixels, type UploadAnswer } from './upload-support.js';

/**
 * Decompression bombs of every allowed type, generated here, sent through a real bridge with the
 * default limits (40 Mpx per frame, 1000 frames, 40 Mpx over all frames).
 */
describe('upload: image bombs are refused before decoding', () => {
  let bridge: RunningBridge;
  let uploadsDir: string;

  before(async () => {
    bridge = await startBridge({ plugins: { 'storage-nedb': { inMemory: true }, upload: {} } });
    uploadsDir = join(bridge.dataDir, 'uploads');
  });
  after(async () => {
    await bridge.close();
  });

  const send = (bytes: Uint8Array): Promise<UploadAnswer> => postUpload(bridge.url, form([{ field: 'image', bytes }]));

  async function expectRefused(bytes: Uint8Array, status: number, detail: string | RegExp): Promise<void> {
    const before = await readdir(uploadsDir);
    const answer = await send(bytes);
    expect(answer.status, JSON.stringify(answer.body)).to.equal(status);
    expect(Object.keys(answer.body).sort()).to.deep.equal(['detail', 'error', 'field']);
    if (typeof detail === 'string') expect(answer.body.detail).to.equal(`field "image": ${detail}`);
    else expect(answer.body.detail).to.match(detail);
    expect(await readdir(uploadsDir)).to.deep.equal(before);
    expect(await readdir(join(uploadsDir, '.incoming'))).to.deep.equal([]);
  }

  it('GIF whose logical screen is 1×1 but whose frame is 8000×8000 (a 26 KB file): 413', async () => {
    const bomb = makeGif(8000, 8000, { screenWidth: 1, screenHeight: 1 });
    expect(bomb.readUInt16LE(6)).to.equal(1); // the screen really says 1×1
    expect(bomb.length).to.be.below(30_000);
    await expectRefused(bomb, 413, '8000×8000 is 64000000 pixels, over the limit of 40000000');
  });

  it('GIF screen/frame mismatch at 144 megapixels: 413', async () => {
    await expectRefused(makeGif(12_000, 12_000, { screenWidth: 1, screenHeight: 1 }), 413, '12000×12000 is 144000000 pixels, over the limit of 40000000');
  });

  it('GIF with 2000 frames: 413, frames are counted', async () => {
    await expectRefused(makeAnimatedGif(64, 64, 2000), 413, '2000 frames, over the limit of 1000');
  });

  it('animated GIF whose frames together decode past the pixel limit: 413', async () => {
    await expectRefused(makeAnimatedGif(1000, 1000, 50), 413, '50 frames of 1000×1000 decode to 50000000 pixels, over the limit of 40000000');
  });

  it('animated WebP with too many frames, and with too many pixels over its frames: 413', async () => {
    const frames = (count: number, side: number) => {
      const raw = Buffer.alloc(side * side * count);
      for (let frame = 0; frame < count; frame++) raw[frame * side * side + (frame % (side * side))] = 255; // no two frames alike
      return sharp(raw, { raw: { width: side, height: side * count, channels: 1, pageHeight: side } })
        .webp({ lossless: true, delay: Array<number>(count).fill(40) })
        .toBuffer();
    };
    await expectRefused(await frames(1200, 8), 413, '1200 frames, over the limit of 1000');
    await expectRefused(await frames(500, 300), 413, '500 frames of 300×300 decode to 45000000 pixels, over the limit of 40000000');
  });

  it('WebP that states 16000×16000 in 32 bytes: 413', async () => {
    await expectRefused(makeWebp(16_000, 16_000), 413, '16000×16000 is 256000000 pixels, over the limit of 40000000');
  });

  it('JPEG of 8000×8000 (250 KB of flat blocks): 413', async () => {
    await expectRefused(makeJpeg(8000, 8000), 413, '8000×8000 is 64000000 pixels, over the limit of 40000000');
  });

  it('PNG whose header states 100000×100000: 413', async () => {
    await expectRefused(makePng(1, 1, { declaredWidth: 100_000, declaredHeight: 100_000 }), 413, '100000×100000 is 10000000000 pixels, over the limit of 40000000');
  });

  it('APNG with many frames is stored as its still default image (libvips decodes no APNG frames)', async () => {
    const apng = makeApng(100, 100, 500);
    expect(apng.includes(Buffer.from('acTL'))).to.equal(true);
    const answer = await send(apng);
    expect(answer.status).to.equal(200);
    const stored = await readFile(join(uploadsDir, answer.body.image as string));
    expect(stored.includes(Buffer.from('acTL'))).to.equal(false);
    expect(stored.includes(Buffer.from('fdAT'))).to.equal(false);
    const metadata = await sharp(stored, { animated: true }).metadata();
    expect([metadata.width, metadata.height, metadata.pages ?? 1]).to.deep.equal([100, 100, 1]);
  });

  it('keeps an animation within the limits, every frame', async () => {
    const gif = makeAnimatedGif(64, 48, 10);
    const answer = await send(gif);
    expect(answer.status).to.equal(200);
    const stored = await readFile(join(uploadsDir, answer.body.image as string));
    const metadata = await sharp(stored, { animated: true }).metadata();
    expect([metadata.width, metadata.pageHeight, metadata.pages]).to.deep.equal([64, 48, 10]);
    expect(await samePixels(stored, gif)).to.equal(true);
  });

  it('refuses pixel data that does not decode (a corrupt PNG stream) with 400', async () => {
    const png = makePng(64, 64, { noise: true });
    const idat = png.indexOf(Buffer.from('IDAT'));
    const damaged = Buffer.from(png);
    for (let i = idat + 40; i < idat + 240; i++) damaged[i] = 0xff;
    await expectRefused(damaged, 400, /pixel data is damaged or truncated/);
  });
});
