/**
 * Uploads in a fleet: the bytes go through the blob store (the data dir every instance mounts), so an image
 * uploaded through A is used by a generation submitted through B, and a result is served by any instance.
 * Plus the incoming folder on a shared volume: a starting instance leaves other instances' requests alone.
 */
import { expect } from 'chai';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clearIncoming, ABANDONED_AFTER_MS } from '../plugins/upload/incoming-dir.js';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { decodePng, encodePng } from './fake-comfyui/png.js';
import { kill, startInstance, writeFleetConfig, type Instance } from './helpers/fleet.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';

describe('a fleet on PostgreSQL: uploads and results on the shared volume', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let dir: string;
  let fake: FakeComfy;
  let instances: Instance[] = [];

  before(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'fleet-global-uploads-'));
    await mkdir(join(dir, 'data'));
    fake = await startFakeComfy({ nodeDurationMs: 5 });
    const config = await writeFleetConfig(dir, { databaseUrl: db.url, backends: [fake.url], plugins: { bus: false, 'bus-postgres': { url: db.url } } });
    instances = await Promise.all([0, 1].map(() => startInstance(config)));
  });

  after(async () => {
    await Promise.all(instances.map((instance) => kill(instance)));
    await fake?.stop();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('an image uploaded through A is used by a generation submitted through B; its result is served by A', async () => {
    const [a, b] = instances as [Instance, Instance];
    const form = new FormData();
    form.append('upload_0', new Blob([encodePng(4, 3, Buffer.alloc(4 * 3 * 3, 0x20))], { type: 'image/png' }), 'mine.png');
    const uploadRes = await fetch(`${a.url}/upload?clientId=img-1`, { method: 'POST', body: form });
    const uploaded = (await uploadRes.json()) as Record<string, string>;
    expect(uploadRes.status, JSON.stringify(uploaded)).to.equal(200);
    const stored = uploaded.upload_0!;
    // The blob store's key uploads/<name>: a file on the shared volume, nothing left in the incoming folder.
    expect(await readdir(join(dir, 'data', 'uploads'))).to.include(stored);
    expect(await readdir(join(dir, 'data', 'uploads', '.incoming'))).to.deep.equal([]);

    // Another client may not use it through B either.
    const stolen = await fetch(`${b.url}/generate-based-workflow?clientId=img-2`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workflow: 'invert-image', '10/image': stored }),
    });
    expect(stolen.status).to.equal(400);

    const res = await fetch(`${b.url}/generate-based-workflow?clientId=img-1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workflow: 'invert-image', '10/image': stored, wait: true }),
    });
    const answer = (await res.json()) as { status: string; data: { result_urls: string[] } };
    expect(res.status, JSON.stringify(answer)).to.equal(200);
    expect(answer.status).to.equal('closed');
    // B put A's upload on the backend.
    expect(fake.uploads.size).to.be.greaterThan(0);
    const [url] = answer.data.result_urls;
    const onA = new URL(new URL(url!).pathname, a.url);
    const png = decodePng(Buffer.from(await (await fetch(onA)).arrayBuffer()));
    expect([png.width, png.height]).to.deep.equal([4, 3]);
    expect([...png.rgb.subarray(0, 3)]).to.deep.equal([0xdf, 0xdf, 0xdf]);
  });
});

describe('upload: the incoming folder at start', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'incoming-'));
    await writeFile(join(dir, 'fresh.part'), 'a request of another instance, running now');
    await writeFile(join(dir, 'stale.part'), 'left by an instance that died');
    const old = (Date.now() - ABANDONED_AFTER_MS - 60_000) / 1000;
    await utimes(join(dir, 'stale.part'), old, old);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('on a shared store, only files older than any request are deleted', async () => {
    await clearIncoming(dir, true);
    expect(await readdir(dir)).to.deep.equal(['fresh.part']);
  });

  it('alone on its data dir, a process deletes everything', async () => {
    await clearIncoming(dir, false);
    expect(await readdir(dir).catch(() => [])).to.deep.equal([]);
  });
});
