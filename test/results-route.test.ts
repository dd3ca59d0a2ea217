import { expect } from 'chai';
import { rm } from 'node:fs/promises';
import type { Principal } from '../contracts/auth.js';
import type { Generation } from '../contracts/generation.js';
import type { GenerationService } from '../plugins/generations/api.js';
import { definePlugin, type PluginManifest } from '../core/plugin.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { GRAPH, probePlugin, StubTransport, stubTransportPlugin, type Probe } from './generations-stub-transport.js';
import { makePng } from './upload-images.js';

const KEYS: Record<string, Principal> = {
  'alice-key': { id: 'alice', scopes: ['client'], anonymous: false },
  'bob-key': { id: 'bob', scopes: ['client'], anonymous: false },
  'admin-key': { id: 'root', scopes: ['admin', 'client'], anonymous: false },
};

/** A tiny key check (the real one is plugins/auth): enough to give requests a principal. */
const keyAuth = definePlugin({
  name: 'results-test-keys',
  register(ctx) {
    ctx.hooks.authenticate.tapPromise('results-test-keys', async (request) => {
      const key = request.headers['x-api-key'];
      return typeof key === 'string' ? KEYS[key] : undefined;
    });
  },
}) as PluginManifest<never>;

describe('GET /results/:id/:file', () => {
  let stub: StubTransport;
  let bridge: RunningBridge;
  let service: GenerationService;
  let gen: Generation;
  const png = makePng(16, 9);
  const weird = Buffer.from('plain text result\n');

  before(async () => {
    stub = new StubTransport();
    stub.files.set('ComfyUI_00001_.png', png);
    stub.files.set('../../etc/notes file.txt', weird);
    const probe: Probe = {};
    bridge = await startBridge({
      plugins: { 'storage-nedb': { inMemory: true }, generations: {}, results: {} },
      extraPlugins: [stubTransportPlugin(stub), probePlugin(probe), keyAuth],
    });
    service = probe.generations!;
    const created = await service.create({ workflow: 'tiny', clientId: 'c1', principal: KEYS['alice-key']!, graph: GRAPH, uploads: {} });
    stub.emit({
      type: 'completed',
      promptId: created.promptId,
      backend: 'stub',
      outputs: [
        { node: '2', kind: 'images', filename: 'ComfyUI_00001_.png', subfolder: '', type: 'output' },
        { node: '2', kind: 'text', filename: '../../etc/notes file.txt', subfolder: '', type: 'output' },
      ],
    });
    gen = (await service.waitForEnd(created.id, 3000))!;
    expect(gen.state).to.equal('completed');
  });
  after(async () => {
    await bridge.close();
  });

  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${bridge.url}${path}`, { headers: { 'x-api-key': 'alice-key', ...headers } });
  const pngPath = () => `/results/${gen.id}/ComfyUI_00001_.png`;

  it('serves the copied bytes with type, length, validators and range support', async () => {
    const res = await get(pngPath());
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('image/png');
    expect(res.headers.get('content-length')).to.equal(String(png.length));
    expect(res.headers.get('accept-ranges')).to.equal('bytes');
    expect(res.headers.get('etag')).to.match(/^"[0-9a-f]{24}-/);
    expect(Number.isNaN(Date.parse(res.headers.get('last-modified')!))).to.equal(false);
    expect(Buffer.from(await res.arrayBuffer()).equals(png)).to.equal(true);
  });

  it('answers a byte range with 206 and Content-Range, and a suffix range too', async () => {
    const res = await get(pngPath(), { Range: 'bytes=0-7' });
    expect(res.status).to.equal(206);
    expect(res.headers.get('content-range')).to.equal(`bytes 0-7/${png.length}`);
    expect(res.headers.get('content-length')).to.equal('8');
    expect(Buffer.from(await res.arrayBuffer()).equals(png.subarray(0, 8))).to.equal(true);
    const tail = await get(pngPath(), { Range: 'bytes=-12' });
    expect(tail.status).to.equal(206);
    expect(Buffer.from(await tail.arrayBuffer()).equals(png.subarray(png.length - 12))).to.equal(true);
    const open = await get(pngPath(), { Range: `bytes=${png.length - 3}-` });
    expect(open.headers.get('content-range')).to.equal(`bytes ${png.length - 3}-${png.length - 1}/${png.length}`);
    await open.arrayBuffer();
  });

  it('answers 416 for a range past the end, and ignores ranges it does not support', async () => {
    const res = await get(pngPath(), { Range: `bytes=${png.length}-` });
    expect(res.status).to.equal(416);
    expect(res.headers.get('content-range')).to.equal(`bytes */${png.length}`);
    expect(((await res.json()) as { error: string }).error).to.equal('range_not_satisfiable');
    const multi = await get(pngPath(), { Range: 'bytes=0-1,4-5' });
    expect(multi.status).to.equal(200);
    expect((await multi.arrayBuffer()).byteLength).to.equal(png.length);
    const stale = await get(pngPath(), { Range: 'bytes=0-1', 'If-Range': '"other"' });
    expect(stale.status).to.equal(200);
    await stale.arrayBuffer();
  });

  it('answers 304 to a matching If-None-Match and If-Modified-Since', async () => {
    const first = await get(pngPath());
    await first.arrayBuffer();
    const etag = first.headers.get('etag')!;
    const again = await get(pngPath(), { 'If-None-Match': `"nope", ${etag}` });
    expect(again.status).to.equal(304);
    expect(again.headers.get('etag')).to.equal(etag);
    const since = await get(pngPath(), { 'If-Modified-Since': first.headers.get('last-modified')! });
    expect(since.status).to.equal(304);
    const changed = await get(pngPath(), { 'If-None-Match': '"something-else"' });
    expect(changed.status).to.equal(200);
    await changed.arrayBuffer();
  });

  it('stores a hostile output name as a safe name, and serves it under that name only', async () => {
    const names = gen.results.map((r) => r.filename);
    expect(names).to.deep.equal(['ComfyUI_00001_.png', 'notes_file.txt']);
    const res = await get(`/results/${gen.id}/notes_file.txt`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('image/png'); // what the backend declared
    expect(Buffer.from(await res.arrayBuffer()).equals(weird)).to.equal(true);
    for (const tricky of ['..%2F..%2Fetc%2Fpasswd', '%2E%2E', 'notes%20file.txt', 'NOTES_FILE.TXT']) {
      const refused = await get(`/results/${gen.id}/${tricky}`);
      expect(refused.status, tricky).to.equal(404);
      expect(((await refused.json()) as { error: string }).error).to.equal('not_found');
    }
  });

  it('answers 404 JSON for an unknown generation or file', async () => {
    const unknownGen = await get('/results/gen_AAAAAAAAAAAAAAAAAAAAAAAA/ComfyUI_00001_.png');
    expect(unknownGen.status).to.equal(404);
    expect(await unknownGen.json()).to.have.keys('error', 'detail');
    const unknownFile = await get(`/results/${gen.id}/ComfyUI_00002_.png`);
    expect(unknownFile.status).to.equal(404);
    await unknownFile.arrayBuffer();
  });

  it("hides another key's results (404), while the owner and an admin see them", async () => {
    const bob = await get(pngPath(), { 'x-api-key': 'bob-key' });
    expect(bob.status).to.equal(404);
    await bob.arrayBuffer();
    const admin = await get(pngPath(), { 'x-api-key': 'admin-key' });
    expect(admin.status).to.equal(200);
    await admin.arrayBuffer();
  });

  it('answers HEAD with the headers only', async () => {
    const res = await fetch(`${bridge.url}${pngPath()}`, { method: 'HEAD', headers: { 'x-api-key': 'alice-key' } });
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-length')).to.equal(String(png.length));
    expect((await res.arrayBuffer()).byteLength).to.equal(0);
  });

  it('answers 404 when the file was removed from the result store (retention)', async () => {
    const other = await service.create({ workflow: 'tiny', clientId: 'c1', principal: KEYS['alice-key']!, graph: GRAPH, uploads: {} });
    stub.emit({
      type: 'completed',
      promptId: other.promptId,
      backend: 'stub',
      outputs: [{ node: '2', kind: 'images', filename: 'ComfyUI_00001_.png', subfolder: '', type: 'output' }],
    });
    const done = (await service.waitForEnd(other.id, 3000))!;
    await rm(service.resultPath(done, 'ComfyUI_00001_.png'));
    const res = await get(`/results/${other.id}/ComfyUI_00001_.png`);
    expect(res.status).to.equal(404);
    await res.arrayBuffer();
  });
});
