import { expect } from 'chai';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { idatData, makePng, pngChunk, withChunkAfterHeader, withIdatData } from './upload-images.js';
import { form, grabServices, postUpload, type Grabbed } from './upload-support.js';
import { encodePng } from './fake-comfyui/png.js';

/** The path that keeps a plain PNG as it came (no re-encode), and what still goes the full way. */
describe('upload: a plain PNG is kept as sent, everything else is checked and re-encoded as before', () => {
  let bridge: RunningBridge;
  let uploadsDir: string;
  const grabbed: Grabbed = {};

  before(async () => {
    bridge = await startBridge({ plugins: { 'storage-nedb': { inMemory: true }, upload: { maxPixels: 1_000_000 } }, extraPlugins: [grabServices(grabbed)] });
    uploadsDir = join(bridge.dataDir, 'uploads');
  });
  after(async () => {
    await bridge.close();
  });

  const stored = (name: unknown) => readFile(join(uploadsDir, name as string));

  it('stores a plain PNG byte for byte, with its record, and leaves nothing in the incoming folder', async () => {
    const png = makePng(120, 80, { noise: true });
    const answer = await postUpload(bridge.url, form([{ field: 'image', bytes: png }]));
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    expect((await stored(answer.body.image)).equals(png)).to.equal(true);
    expect(await readdir(join(uploadsDir, '.incoming'))).to.deep.equal([]);
    const record = await grabbed.storage!.uploads.get(answer.body.image as string);
    expect(record && [record.contentType, record.size, record.width, record.height]).to.deep.equal(['image/png', png.length, 120, 80]);
  });

  it('keeps a PNG with text chunks (the prompt and workflow ComfyUI writes) as sent, less those chunks', async () => {
    const png = makePng(30, 20, { noise: true });
    const withText = withChunkAfterHeader(png, pngChunk('tEXt', Buffer.from('prompt\0{"secret":1}', 'latin1')));
    const answer = await postUpload(bridge.url, form([{ field: 'image', bytes: withText }]));
    expect(answer.status).to.equal(200);
    const kept = await stored(answer.body.image);
    expect(kept.includes(Buffer.from('secret'))).to.equal(false);
    expect(kept.equals(png), 'byte for byte the PNG without its text chunk').to.equal(true);
    const record = await grabbed.storage!.uploads.get(answer.body.image as string);
    expect(record?.size).to.equal(png.length);
  });

  it('keeps a PNG as ComfyUI writes it (workflow in tEXt) without the workflow, the same pixels', async () => {
    const rgb = Buffer.alloc(40 * 30 * 3);
    for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 7) % 251;
    const comfy = encodePng(40, 30, rgb, { prompt: '{"3":{"class_type":"KSampler"}}', workflow: '{"nodes":[{"id":3,"type":"KSampler"}]}' });
    const answer = await postUpload(bridge.url, form([{ field: 'image', bytes: comfy }]));
    expect(answer.status).to.equal(200);
    const kept = await stored(answer.body.image);
    expect(kept.includes(Buffer.from('KSampler'))).to.equal(false);
    expect(kept.length).to.be.below(comfy.length);
    const pixels = await sharp(kept).raw().toBuffer();
    expect(pixels.equals(rgb)).to.equal(true);
  });

  it('re-encodes a PNG with a text chunk after its image data (not dropped there): stored without it', async () => {
    const png = makePng(30, 20);
    const late = Buffer.concat([png.subarray(0, png.length - 12), pngChunk('tEXt', Buffer.from('prompt\0{"secret":1}', 'latin1')), png.subarray(png.length - 12)]);
    const answer = await postUpload(bridge.url, form([{ field: 'image', bytes: late }]));
    expect(answer.status).to.equal(200);
    const kept = await stored(answer.body.image);
    expect(kept.includes(Buffer.from('secret'))).to.equal(false);
    expect(kept.equals(png)).to.equal(false);
    expect((await sharp(kept).metadata()).width).to.equal(30);
  });

  it('refuses a PNG whose CRCs are right but whose image data does not decode, keeping nothing', async () => {
    const png = makePng(64, 64, { noise: true });
    const data = Buffer.from(idatData(png));
    data.fill(0xff, 40, 240);
    const before = await readdir(uploadsDir);
    const answer = await postUpload(bridge.url, form([{ field: 'image', bytes: withIdatData(png, data) }]));
    expect(answer.status).to.equal(400);
    expect(answer.body.detail).to.match(/pixel data is damaged or truncated/);
    expect(await readdir(uploadsDir)).to.deep.equal(before);
    expect(await readdir(join(uploadsDir, '.incoming'))).to.deep.equal([]);
  });

  it('still refuses a plain PNG over the pixel limit with 413, from its header', async () => {
    const answer = await postUpload(bridge.url, form([{ field: 'image', bytes: makePng(1001, 1000) }]));
    expect(answer.status).to.equal(413);
    expect(answer.body.detail).to.match(/1001×1000 is 1001000 pixels, over the limit of 1000000/);
  });
});
