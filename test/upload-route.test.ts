import { expect } from 'chai';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { makeJpeg, makePng, makePngOfSize, makeGif, makeWebp, SVG } from './upload-images.js';
import { ANONYMOUS, CLIENT_ONLY, filesUnder, form, grabServices, postUpload, samePixels, type Grabbed } from './upload-support.js';

const STORED = /^cb_[A-Za-z0-9_-]+\.(png|jpg|webp|gif)$/;
const KiB = 1024;

describe('POST /upload', () => {
  let root: string;
  let dataDir: string;
  let uploadsDir: string;
  let bridge: RunningBridge;
  const grabbed: Grabbed = {};

  beforeEach(async () => {
    // Nested, so "../../x.png" resolved from uploads/ or uploads/.incoming still lands inside `root`,
    // where the test can see it.
    root = await mkdtemp(join(tmpdir(), 'upload-route-'));
    dataDir = join(root, 'a', 'b', 'data');
    await mkdir(dataDir, { recursive: true });
    uploadsDir = join(dataDir, 'uploads');
    bridge = await startBridge({
      plugins: { 'storage-nedb': { inMemory: true }, upload: { maxFileBytes: 256 * KiB, maxTotalBytes: 400 * KiB, maxParts: 3, maxPixels: 10_000_000 } },
      extraPlugins: [grabServices(grabbed)],
      config: { dataDir },
    });
  });

  afterEach(async () => {
    await bridge.close();
    await rm(root, { recursive: true, force: true });
  });

  async function storedFiles(): Promise<string[]> {
    return (await filesUnder(uploadsDir)).sort();
  }

  async function expectNothingKept(): Promise<void> {
    expect(await readdir(uploadsDir)).to.deep.equal(['.incoming']);
    expect(await readdir(join(uploadsDir, '.incoming'))).to.deep.equal([]);
  }

  it('stores every file part under a fresh name and answers field → name', async () => {
    const png = makePng(40, 30);
    const jpeg = makeJpeg(64, 48);
    const answer = await postUpload(
      bridge.url,
      form([
        { field: 'upload_0', bytes: png, filename: 'photo.png', type: 'image/png' },
        { field: 'mask', bytes: jpeg, filename: 'mask.jpg', type: 'image/jpeg' },
      ]),
    );
    expect(answer.status).to.equal(200);
    expect(Object.keys(answer.body).sort()).to.deep.equal(['mask', 'upload_0']);
    const pngName = answer.body.upload_0 as string;
    const jpegName = answer.body.mask as string;
    expect(pngName).to.match(STORED).and.match(/\.png$/);
    expect(jpegName).to.match(STORED).and.match(/\.jpg$/);
    expect(pngName).to.not.equal(jpegName);
    expect(pngName).to.not.include('photo');
    expect(jpegName).to.not.include('mask');
    expect(await storedFiles()).to.deep.equal([jpegName, pngName].sort());
    // Stored re-encoded (nothing but pixels survives): the PNG's pixels are unchanged, the JPEG decodes
    // to the same size.
    const storedPng = await readFile(join(uploadsDir, pngName));
    expect(await samePixels(storedPng, png)).to.equal(true);
    expect(await sharp(await readFile(join(uploadsDir, jpegName))).metadata()).to.include({ format: 'jpeg', width: 64, height: 48 });

    const record = await grabbed.uploads!.find(pngName, 'client-1', ANONYMOUS);
    expect(record).to.include({ name: pngName, clientId: 'client-1', owner: null, field: 'upload_0', contentType: 'image/png', size: storedPng.length, width: 40, height: 30 });
    expect(record!.usedBy).to.deep.equal([]);
    expect(grabbed.uploads!.pathOf(pngName)).to.equal(join(uploadsDir, pngName));
  });

  it('answers a field name as the client wrote it, in UTF-8 and with quotes', async () => {
    // FormData (undici) sends names as UTF-8 and escapes a quote as %22, as browsers do.
    const answer = await postUpload(bridge.url, form([{ field: 'фото "1" 画像', bytes: makePng(4, 4), filename: 'é.png' }]));
    expect(answer.status).to.equal(200);
    expect(Object.keys(answer.body)).to.deep.equal(['фото %221%22 画像']);
  });

  it('gives the same file a new name every time', async () => {
    const png = makePng(8, 8);
    const first = await postUpload(bridge.url, form([{ field: 'f', bytes: png, filename: 'same.png' }]));
    const second = await postUpload(bridge.url, form([{ field: 'f', bytes: png, filename: 'same.png' }]));
    expect(first.status).to.equal(200);
    expect(second.status).to.equal(200);
    expect(first.body.f).to.not.equal(second.body.f);
  });

  it('accepts gif and webp, sniffed from the bytes whatever the name and declared type say', async () => {
    const answer = await postUpload(
      bridge.url,
      form([
        { field: 'g', bytes: makeGif(10, 12), filename: 'g.jpg', type: 'image/jpeg' },
        { field: 'w', bytes: makeWebp(20, 22), filename: 'w.txt', type: 'text/plain' },
      ]),
    );
    expect(answer.status).to.equal(200);
    expect(answer.body.g).to.match(/\.gif$/);
    expect(answer.body.w).to.match(/\.webp$/);
    const gif = await grabbed.uploads!.find(answer.body.g as string, 'client-1', ANONYMOUS);
    expect(gif).to.include({ contentType: 'image/gif', width: 10, height: 12 });
  });

  const png = makePng(32, 32);
  const jpeg = makeJpeg(32, 32);
  const refusals: { title: string; parts: () => Parameters<typeof form>[0]; status: number; error: string; field: string; detail: RegExp }[] = [
    {
      title: 'a text file named .png',
      parts: () => [{ field: 'doc', bytes: Buffer.from('just some text, honestly not a picture\n'), filename: 'photo.png', type: 'image/png' }],
      status: 400,
      error: 'bad_request',
      field: 'doc',
      detail: /not an image/,
    },
    {
      title: 'an SVG',
      parts: () => [{ field: 'vector', bytes: SVG, filename: 'v.png', type: 'image/png' }],
      status: 415,
      error: 'unsupported_media_type',
      field: 'vector',
      detail: /type svg is not allowed/,
    },
    {
      title: 'a truncated PNG (no IEND chunk)',
      parts: () => [{ field: 'cut', bytes: png.subarray(0, png.length - 20), filename: 'cut.png' }],
      status: 400,
      error: 'bad_request',
      field: 'cut',
      detail: /truncated/,
    },
    {
      title: 'a truncated JPEG (no EOI marker)',
      parts: () => [{ field: 'cut', bytes: jpeg.subarray(0, jpeg.length - 2), filename: 'cut.jpg' }],
      status: 400,
      error: 'bad_request',
      field: 'cut',
      detail: /truncated/,
    },
    {
      title: 'a PNG declaring 100000×100000 pixels',
      parts: () => [{ field: 'bomb', bytes: makePng(1, 1, { declaredWidth: 100_000, declaredHeight: 100_000 }), filename: 'bomb.png' }],
      status: 413,
      error: 'payload_too_large',
      field: 'bomb',
      detail: /100000×100000 .* over the limit of 10000000/,
    },
    {
      title: 'a file over maxFileBytes',
      parts: () => [{ field: 'huge', bytes: makePngOfSize(300 * KiB), filename: 'huge.png' }],
      status: 413,
      error: 'payload_too_large',
      field: 'huge',
      detail: /larger than 262144 bytes/,
    },
    {
      title: 'files over maxTotalBytes together',
      parts: () => [
        { field: 'one', bytes: makePngOfSize(200 * KiB) },
        { field: 'two', bytes: makePngOfSize(220 * KiB) },
      ],
      status: 413,
      error: 'payload_too_large',
      field: 'two',
      detail: /larger than 409600 bytes in total/,
    },
    {
      title: 'more file parts than maxParts',
      parts: () => ['p1', 'p2', 'p3', 'p4'].map((field) => ({ field, bytes: makePng(4, 4) })),
      status: 413,
      error: 'payload_too_large',
      field: 'p4',
      detail: /too many file parts \(the limit is 3\)/,
    },
    {
      title: 'a good file followed by a bad one (nothing is kept)',
      parts: () => [
        { field: 'good', bytes: makePng(8, 8) },
        { field: 'bad', bytes: Buffer.from('plain text pretending to be the second image') },
      ],
      status: 400,
      error: 'bad_request',
      field: 'bad',
      detail: /not an image/,
    },
    {
      title: 'an empty file',
      parts: () => [{ field: 'nothing', bytes: new Uint8Array(0) }],
      status: 400,
      error: 'bad_request',
      field: 'nothing',
      detail: /empty/,
    },
    {
      title: 'two files under one field name',
      parts: () => [
        { field: 'same', bytes: makePng(4, 4) },
        { field: 'same', bytes: makePng(5, 5) },
      ],
      status: 400,
      error: 'bad_request',
      field: 'same',
      detail: /more than one file/,
    },
  ];

  for (const refusal of refusals) {
    it(`refuses ${refusal.title} with ${refusal.status}, naming the field, keeping nothing`, async () => {
      const answer = await postUpload(bridge.url, form(refusal.parts()));
      expect(answer.status).to.equal(refusal.status);
      expect(answer.body.error).to.equal(refusal.error);
      expect(answer.body.detail).to.be.a('string').and.include(`field "${refusal.field}"`).and.match(refusal.detail);
      await expectNothingKept();
      expect(await grabbed.storage!.uploads.expired(new Date(Date.now() + 60_000).toISOString())).to.deep.equal([]);
    });
  }

  it('refuses a request with no file parts with 400', async () => {
    const data = new FormData();
    data.append('note', 'only text here');
    const answer = await postUpload(bridge.url, data);
    expect(answer.status).to.equal(400);
    expect(answer.body).to.include({ error: 'bad_request' });
    expect(answer.body.detail).to.match(/no file parts/);
    await expectNothingKept();
  });

  it('refuses a body that is not multipart/form-data with 415', async () => {
    for (const [body, type] of [
      [JSON.stringify({ image: 'x' }), 'application/json'],
      [makePng(4, 4), 'image/png'],
      ['a=b', 'application/x-www-form-urlencoded'],
    ] as const) {
      const answer = await postUpload(bridge.url, body, '?clientId=client-1', { 'content-type': type });
      expect(answer.status, type).to.equal(415);
      expect(answer.body).to.deep.equal({ error: 'unsupported_media_type', detail: 'send the files as multipart/form-data' });
    }
    await expectNothingKept();
  });

  it('refuses a missing or malformed clientId with 400 before reading the files', async () => {
    const missing = await postUpload(bridge.url, form([{ field: 'f', bytes: makePng(4, 4) }]), '');
    expect(missing.status).to.equal(400);
    expect(missing.body.error).to.equal('bad_request');
    expect(missing.body.detail).to.include('clientId');
    const malformed = await postUpload(bridge.url, form([{ field: 'f', bytes: makePng(4, 4) }]), '?clientId=' + encodeURIComponent('no spaces/allowed'));
    expect(malformed.status).to.equal(400);
    expect(malformed.body.detail).to.include('clientId');
    await expectNothingKept();
  });

  it('refuses a malformed multipart body (no boundary, broken framing) with 400', async () => {
    const noBoundary = await postUpload(bridge.url, 'whatever', '?clientId=client-1', { 'content-type': 'multipart/form-data' });
    expect(noBoundary.status).to.equal(400);
    expect(noBoundary.body.detail).to.match(/multipart/);
    const broken = await postUpload(bridge.url, '--xyz\r\nContent-Disposition: form-data; name="f"; filename="a.png"\r\n\r\nnot finished', '?clientId=client-1', {
      'content-type': 'multipart/form-data; boundary=xyz',
    });
    expect(broken.status).to.equal(400);
    await expectNothingKept();
  });

  it('refuses a file part without a field name', async () => {
    const boundary = 'b0undary';
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; filename="a.png"\r\nContent-Type: image/png\r\n\r\n`),
      makePng(4, 4),
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const answer = await postUpload(bridge.url, body, '?clientId=client-1', { 'content-type': `multipart/form-data; boundary=${boundary}` });
    expect(answer.status).to.equal(400);
    expect(answer.body.detail).to.match(/field name/);
    await expectNothingKept();
  });

  it('cuts off a body larger than every limit allows, declared or streamed (endless part headers)', async () => {
    const boundary = 'b0undary';
    const hugeHeader = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="f"; filename="a.png"\r\nX-Padding: `),
      Buffer.alloc(1024 * 1024, 0x61),
    ]);
    const type = { 'content-type': `multipart/form-data; boundary=${boundary}` };
    const declared = await postUpload(bridge.url, hugeHeader, '?clientId=client-1', type);
    expect(declared.status).to.equal(413);
    expect(declared.body.detail).to.match(/request body is larger than \d+ bytes/);

    // Without Content-Length (chunked), the limit is enforced while reading.
    const chunks = [hugeHeader.subarray(0, 64 * 1024), ...Array.from({ length: 15 }, (_, i) => hugeHeader.subarray((i + 1) * 64 * 1024, (i + 2) * 64 * 1024))];
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = chunks.shift();
        if (next) controller.enqueue(next);
        else controller.close();
      },
    });
    const response = await fetch(`${bridge.url}/upload?clientId=client-1`, { method: 'POST', body: stream, headers: type, duplex: 'half' } as RequestInit);
    expect(response.status).to.equal(413);
    expect(((await response.json()) as { detail: string }).detail).to.match(/request body is larger than/);
    await expectNothingKept();
  });

  it('refuses a part whose headers are over 8 KiB with 413, in a body within every other limit', async () => {
    const boundary = 'b0undary';
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="f"; filename="a.png"\r\nX-Padding: ${'a'.repeat(20 * KiB)}\r\n\r\n`),
      makePng(4, 4),
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const answer = await postUpload(bridge.url, body, '?clientId=client-1', { 'content-type': `multipart/form-data; boundary=${boundary}` });
    expect(answer.status).to.equal(413);
    expect(answer.body).to.deep.equal({ error: 'payload_too_large', detail: 'the headers of a part are larger than 8192 bytes' });
    await expectNothingKept();
  });

  it('treats a file part without Content-Type as a file', async () => {
    const boundary = 'b0undary';
    const png4 = makePng(4, 4);
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="plain"; filename="a.png"\r\n\r\n`),
      png4,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const answer = await postUpload(bridge.url, body, '?clientId=client-1', { 'content-type': `multipart/form-data; boundary=${boundary}` });
    expect(answer.status).to.equal(200);
    expect(await samePixels(await readFile(join(uploadsDir, answer.body.plain as string)), png4)).to.equal(true);
  });

  it('never lets the client file name reach the disk (../, absolute paths, NUL bytes)', async () => {
    const before = await filesUnder(root);
    // A NUL byte is not allowed in a header (RFC 7230; node refuses it in request headers too): the part's
    // headers are malformed, 400, and nothing is written.
    const nul = await postUpload(bridge.url, form([{ field: 'nul', bytes: makePng(4, 4), filename: 'a\u0000b.png' }]));
    expect(nul.status).to.equal(400);
    expect(nul.body.detail).to.match(/malformed multipart body/);
    // The same in the name of a text part beside a good file: the whole body is refused.
    const withField = form([{ field: 'good', bytes: makePng(4, 4) }]);
    withField.append('a\u0000b', 'text');
    const nulField = await postUpload(bridge.url, withField);
    expect(nulField.status).to.equal(400);
    expect(nulField.body.detail).to.match(/malformed multipart body/);
    const names = ['../../x.png', '/etc/passwd.png', '../a.png', '..\\..\\y.png'];
    const answer = await postUpload(
      bridge.url,
      form(names.slice(0, 3).map((filename, index) => ({ field: `f${index}`, bytes: makePng(4 + index, 4), filename }))),
    );
    expect(answer.status).to.equal(200);
    const second = await postUpload(bridge.url, form([{ field: 'win', bytes: makePng(4, 4), filename: names[3] }]));
    expect(second.status).to.equal(200);
    const stored = [...Object.values(answer.body), second.body.win] as string[];
    for (const name of stored) expect(name).to.match(STORED);
    expect(new Set(stored).size).to.equal(4);
    // Everything new under the test root is a stored upload, directly inside uploads/.
    const added = (await filesUnder(root)).filter((path) => !before.includes(path));
    expect(added.sort()).to.deep.equal(stored.map((name) => join('a', 'b', 'data', 'uploads', name)).sort());
    expect(await readdir(join(uploadsDir, '.incoming'))).to.deep.equal([]);
  });
});

describe('POST /upload with access control', () => {
  let bridge: RunningBridge;
  const grabbed: Grabbed = {};
  const claims: { clientId: string; principal: string }[] = [];

  beforeEach(async () => {
    claims.length = 0;
    const { definePlugin } = await import('../core/plugin.js');
    const { notFound } = await import('../core/errors.js');
    const fakeAuth = definePlugin({
      name: 'fake-access',
      provides: ['access'],
      register(ctx) {
        ctx.hooks.authenticate.tapPromise({ name: 'fake-access' }, (request) => {
          const key = request.headers['x-key'];
          return Promise.resolve(typeof key === 'string' ? CLIENT_ONLY(key) : undefined);
        });
        ctx.provide('access', {
          claimClient(clientId, principal) {
            claims.push({ clientId, principal: principal.id });
            if (clientId === 'taken') return Promise.reject(notFound(`unknown clientId ${clientId}`));
            return Promise.resolve();
          },
          checkClient: () => Promise.reject(new Error('upload binds clientIds; it never only checks them')),
        });
      },
    });
    bridge = await startBridge({
      plugins: { 'storage-nedb': { inMemory: true }, upload: {} },
      extraPlugins: [fakeAuth as never, grabServices(grabbed)],
    });
  });

  afterEach(async () => {
    await bridge.close();
  });

  it('claims the clientId first and records the key as owner', async () => {
    const answer = await postUpload(bridge.url, form([{ field: 'f', bytes: makePng(4, 4) }]), '?clientId=mine', { 'x-key': 'key-a' });
    expect(answer.status).to.equal(200);
    expect(claims).to.deep.equal([{ clientId: 'mine', principal: 'key-a' }]);
    const name = answer.body.f as string;
    const record = await grabbed.uploads!.find(name, 'mine', CLIENT_ONLY('key-a'));
    expect(record?.owner).to.equal('key-a');
    expect(await grabbed.uploads!.find(name, 'mine', CLIENT_ONLY('key-b')), 'another key').to.equal(undefined);
    expect(await grabbed.uploads!.find(name, 'other-client', CLIENT_ONLY('key-a')), 'another clientId').to.equal(undefined);
    expect(await grabbed.uploads!.find(name, 'other-client', ANONYMOUS), 'admins see everything').to.not.equal(undefined);
  });

  it('stops when the claim is refused, without storing anything', async () => {
    const answer = await postUpload(bridge.url, form([{ field: 'f', bytes: makePng(4, 4) }]), '?clientId=taken', { 'x-key': 'key-a' });
    expect(answer.status).to.equal(404);
    expect(answer.body.error).to.equal('not_found');
    expect(await readdir(join(bridge.dataDir, 'uploads'))).to.deep.equal(['.incoming']);
  });
});
