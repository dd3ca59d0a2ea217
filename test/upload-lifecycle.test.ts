import { expect } from 'chai';
import { request } from 'node:http';
import { access, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { ManualClock } from './helpers/manual-clock.js';
import { until } from './helpers/until.js';
import { makePng } from './upload-images.js';
import { ANONYMOUS, form, grabServices, postUpload, type Grabbed } from './upload-support.js';

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

describe('upload: expiry', () => {
  let bridge: RunningBridge;
  let clock: ManualClock;
  const grabbed: Grabbed = {};

  beforeEach(async () => {
    clock = new ManualClock();
    bridge = await startBridge({
      plugins: { 'storage-nedb': { inMemory: true }, upload: { expireAfterMs: 60_000, sweepIntervalMs: 1000 } },
      extraPlugins: [grabServices(grabbed)],
      clock,
    });
  });
  afterEach(async () => {
    await bridge.close();
  });

  /** Moves the clock a sweep at a time until `path` is gone (a sweep's file and store work is real I/O). */
  const sweptAway = (path: string, what: string): Promise<true> =>
    until(async () => {
      await clock.advance(1000);
      return !(await exists(path));
    }, what);

  it('deletes an unused upload (file and record) and keeps one a generation used', async () => {
    const answer = await postUpload(bridge.url, form([{ field: 'unused', bytes: makePng(4, 4) }, { field: 'used', bytes: makePng(5, 5) }]));
    expect(answer.status).to.equal(200);
    const unused = answer.body.unused as string;
    const used = answer.body.used as string;
    const uploads = grabbed.uploads!;
    await uploads.markUsed(used, 'gen_test');

    // Just short of expireAfterMs nothing is old enough yet.
    await clock.advance(59_000);
    expect(await exists(uploads.pathOf(unused))).to.equal(true);
    expect(await grabbed.storage!.uploads.get(unused)).to.not.equal(undefined);

    await sweptAway(uploads.pathOf(unused), 'the unused upload to expire');
    await until(async () => (await grabbed.storage!.uploads.get(unused)) === undefined, 'its record to go');
    expect(await uploads.find(unused, 'client-1', ANONYMOUS)).to.equal(undefined);

    // A later unused upload expiring too means sweeps ran after the used one was older than expireAfterMs.
    const later = (await postUpload(bridge.url, form([{ field: 'later', bytes: makePng(6, 6) }]))).body.later as string;
    await clock.advance(60_000);
    await sweptAway(uploads.pathOf(later), 'the later upload to expire');
    expect(await exists(uploads.pathOf(used))).to.equal(true);
    const kept = await uploads.find(used, 'client-1', ANONYMOUS);
    expect(kept?.usedBy).to.deep.equal(['gen_test']);
  });
});

describe('upload: service and disk hygiene', () => {
  const grabbed: Grabbed = {};
  let dataDir: string;
  let bridge: RunningBridge | undefined;

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'upload-hygiene-'));
  });
  afterEach(async () => {
    await bridge?.close();
    bridge = undefined;
    await rm(dataDir, { recursive: true, force: true });
  });

  const start = async (): Promise<RunningBridge> =>
    (bridge = await startBridge({
      plugins: { 'storage-nedb': { inMemory: true }, upload: {} },
      extraPlugins: [grabServices(grabbed)],
      config: { dataDir },
    }));

  it('empties the incoming folder left by a previous run at start', async () => {
    const incoming = join(dataDir, 'uploads', '.incoming');
    await mkdir(incoming, { recursive: true });
    await writeFile(join(incoming, 'stale.part'), 'half an upload');
    await start();
    expect(await readdir(incoming)).to.deep.equal([]);
  });

  it('find() checks the name before touching storage or disk, and pathOf() refuses paths', async () => {
    await start();
    const uploads = grabbed.uploads!;
    for (const name of ['../../etc/passwd', 'cb_x.png/../../y', 'cb_abc.svg', 'cb_a\u0000.png', '/abs/cb_a.png', 'cb_.png']) {
      expect(await uploads.find(name, 'client-1', ANONYMOUS), name).to.equal(undefined);
      expect(() => uploads.pathOf(name), name).to.throw(/not a stored upload name/);
    }
    expect(await uploads.find('cb_doesNotExist.png', 'client-1', ANONYMOUS)).to.equal(undefined);
  });

  it('find() ignores a record whose file is gone', async () => {
    await start();
    const answer = await postUpload(bridge!.url, form([{ field: 'f', bytes: makePng(4, 4) }]));
    const name = answer.body.f as string;
    await rm(grabbed.uploads!.pathOf(name));
    expect(await grabbed.uploads!.find(name, 'client-1', ANONYMOUS)).to.equal(undefined);
  });

  it('leaves nothing behind when the client disconnects mid-upload', async () => {
    const running = await start();
    const boundary = 'cut-short';
    const url = new URL(`${running.url}/upload?clientId=client-1`);
    const req = request({
      host: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(10 * 1024 * 1024) },
    });
    req.on('error', () => undefined); // we cut it ourselves
    req.write(`--${boundary}\r\nContent-Disposition: form-data; name="f"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n`);
    req.write(Buffer.alloc(256 * 1024, 1));
    const incoming = join(dataDir, 'uploads', '.incoming');
    await until(async () => (await readdir(incoming)).length > 0, 'a file in the incoming folder');
    req.destroy();
    await until(async () => (await readdir(incoming)).length === 0, 'the incoming folder to empty');
    expect(await readdir(join(dataDir, 'uploads'))).to.deep.equal(['.incoming']);
  });
});
