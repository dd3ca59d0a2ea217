import { expect } from 'chai';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { makeAnimatedGif, makeGif, makeJpeg, makePng, makeWebp, pngChunk } from './upload-images.js';
import { form, postUpload } from './upload-support.js';

const HTML = '<html><body><script>alert(document.domain)</script></body></html>';
const MARKERS = ['<script', 'alert(', '<html'];

/** An image of each allowed type with HTML/JS hidden inside, where each format has room for it. */
const interleaved: Record<string, () => Buffer> = {
  // A tEXt chunk after IHDR and an unknown ancillary chunk before IEND (valid CRCs: every reader skips them).
  png: () => {
    const png = makePng(16, 12);
    const afterIhdr = 8 + 25;
    const iend = png.length - 12;
    return Buffer.concat([
      png.subarray(0, afterIhdr),
      pngChunk('tEXt', Buffer.from(`Comment\0${HTML}`, 'latin1')),
      png.subarray(afterIhdr, iend),
      pngChunk('htMl', Buffer.from(HTML, 'latin1')),
      png.subarray(iend),
    ]);
  },
  // A COM segment right after SOI.
  jpg: () => {
    const jpeg = makeJpeg(16, 16);
    const com = Buffer.alloc(4);
    com[0] = 0xff;
    com[1] = 0xfe;
    com.writeUInt16BE(HTML.length + 2, 2);
    return Buffer.concat([jpeg.subarray(0, 2), com, Buffer.from(HTML, 'latin1'), jpeg.subarray(2)]);
  },
  // A comment extension between the colour table and the image.
  gif: () => {
    const gif = makeGif(16, 12);
    const afterPalette = 6 + 7 + 6;
    const comment = Buffer.concat([Buffer.from([0x21, 0xfe, HTML.length]), Buffer.from(HTML, 'latin1'), Buffer.from([0x00])]);
    return Buffer.concat([gif.subarray(0, afterPalette), comment, gif.subarray(afterPalette)]);
  },
  // An unknown RIFF chunk after the image chunk, counted in the RIFF size.
  webp: () => {
    const webp = makeWebp(16, 12);
    const chunk = Buffer.alloc(8);
    chunk.write('HTML', 0, 'ascii');
    chunk.writeUInt32LE(HTML.length, 4);
    const padded = Buffer.concat([Buffer.from(HTML, 'latin1'), Buffer.alloc(HTML.length % 2)]);
    const out = Buffer.concat([webp, chunk, padded]);
    out.writeUInt32LE(out.length - 8, 4);
    return out;
  },
};

const EXPECTED_FORMAT: Record<string, string> = { png: 'png', jpg: 'jpeg', gif: 'gif', webp: 'webp' };
const MADE: Record<string, () => Buffer> = {
  png: () => makePng(16, 12),
  jpg: () => makeJpeg(16, 16),
  gif: () => makeGif(16, 12),
  webp: () => makeWebp(16, 12),
};

describe('upload: polyglots keep nothing but pixels', () => {
  let bridge: RunningBridge;
  let uploadsDir: string;

  before(async () => {
    bridge = await startBridge({ plugins: { 'storage-nedb': { inMemory: true }, upload: {} } });
    uploadsDir = join(bridge.dataDir, 'uploads');
  });
  after(async () => {
    await bridge.close();
  });

  for (const [type, make] of Object.entries(interleaved)) {
    it(`${type} with HTML between header and trailer: stored re-encoded, without the HTML`, async () => {
      const polyglot = make();
      expect(polyglot.includes(Buffer.from(HTML))).to.equal(true);
      const answer = await postUpload(bridge.url, form([{ field: 'image', bytes: polyglot }]));
      expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
      const name = answer.body.image as string;
      expect(name.endsWith(`.${type}`)).to.equal(true);
      const stored = await readFile(join(uploadsDir, name));
      for (const marker of MARKERS) expect(stored.includes(Buffer.from(marker)), marker).to.equal(false);
      const metadata = await sharp(stored).metadata();
      expect(metadata.format).to.equal(EXPECTED_FORMAT[type]);
      expect([metadata.width, metadata.height]).to.deep.equal(type === 'jpg' ? [16, 16] : [16, 12]);
    });
  }

  for (const [type, make] of Object.entries(MADE)) {
    it(`${type} with HTML after its trailer: refused with 400, nothing kept`, async () => {
      const before = await readdir(uploadsDir);
      const answer = await postUpload(bridge.url, form([{ field: 'image', bytes: Buffer.concat([make(), Buffer.from(HTML)]) }]));
      expect(answer.status).to.equal(400);
      expect(answer.body.detail).to.match(/truncated or has trailing data/);
      expect(await readdir(uploadsDir)).to.deep.equal(before);
    });
  }

  it('gif with script after its trailer that itself ends in ";" (passes the tail check): stored without it', async () => {
    const polyglot = Buffer.concat([makeAnimatedGif(8, 8, 3), Buffer.from('<script>alert(document.domain);')]);
    expect(polyglot.at(-1)).to.equal(0x3b);
    const answer = await postUpload(bridge.url, form([{ field: 'image', bytes: polyglot }]));
    expect(answer.status).to.equal(200);
    const stored = await readFile(join(uploadsDir, answer.body.image as string));
    for (const marker of MARKERS) expect(stored.includes(Buffer.from(marker)), marker).to.equal(false);
    expect((await sharp(stored, { animated: true }).metadata()).pages).to.equal(3);
  });

  it('strips EXIF and applies its orientation, so the stored picture looks the same', async () => {
    const rotated = await sharp({ create: { width: 40, height: 20, channels: 3, background: '#336699' } })
      .jpeg()
      .withMetadata({ orientation: 6, exif: { IFD0: { ImageDescription: HTML } } })
      .toBuffer();
    expect(rotated.includes(Buffer.from('<script'))).to.equal(true);
    const answer = await postUpload(bridge.url, form([{ field: 'image', bytes: rotated }]));
    expect(answer.status).to.equal(200);
    const stored = await readFile(join(uploadsDir, answer.body.image as string));
    const metadata = await sharp(stored).metadata();
    expect([metadata.width, metadata.height, metadata.orientation, metadata.exif]).to.deep.equal([20, 40, undefined, undefined]);
    expect(stored.includes(Buffer.from('<script'))).to.equal(false);
  });
});
