import { expect } from 'chai';
import { decodePng, encodePng } from './fake-comfyui/png.js';
import { getJson, postJson, startStack, type Stack } from './e2e-support.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';

/** The client flows with storage-postgres in place of storage-nedb: nothing changes for clients. */
describe('e2e: the bridge on PostgreSQL storage', function () {
  this.timeout(30_000);
  let db: TestDatabase;
  let stack: Stack | undefined;
  let reader: RunningBridge | undefined;

  const onPostgres = () => ({ 'storage-nedb': false as const, 'storage-postgres': { url: db.url }, history: {} });

  beforeEach(async () => {
    db = await createTestDatabase();
  });

  afterEach(async () => {
    await reader?.close();
    reader = undefined;
    await stack?.stop();
    stack = undefined;
    await db.drop();
  });

  it('upload → generate → result, then history and counts from another instance and after a restart', async () => {
    stack = await startStack({ plugins: onPostgres() });
    const url = stack.bridge.url;
    const form = new FormData();
    form.append('upload_0', new Blob([encodePng(4, 3, Buffer.alloc(4 * 3 * 3, 0x20))], { type: 'image/png' }), 'mine.png');
    const uploaded = (await (await fetch(`${url}/upload?clientId=pg-1`, { method: 'POST', body: form })).json()) as Record<string, string>;
    const answer = await postJson(`${url}/generate-based-workflow?clientId=pg-1`, { workflow: 'invert', '10/image': uploaded.upload_0, wait: true });
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    expect(answer.body.status).to.equal('closed');
    const id = (answer.body.data as { id: string }).id;
    const [result] = (answer.body.data as { result_urls: string[] }).result_urls;
    const png = decodePng(Buffer.from(await (await fetch(result!)).arrayBuffer()));
    expect([...png.rgb.subarray(0, 3)]).to.deep.equal([0xdf, 0xdf, 0xdf]);
    const failed = await postJson(`${url}/generate-based-workflow?clientId=pg-2`, { workflow: 'failing', wait: true });
    expect((failed.body.data as { state: string }).state).to.equal('failed');

    const history = await getJson(`${url}/history?clientId=pg-1`);
    expect(history.body.total_count).to.equal(1);
    expect((history.body.history as { id: string; status: string }[])[0]).to.include({ id, status: 'completed' });
    const counts = await getJson(`${url}/generation-count`);
    expect(counts.body).to.deep.include({ generation_count: 2 });
    expect(counts.body.by_status).to.include({ completed: 1, failed: 1, queued: 0, running: 0 });

    // A second instance on the same database answers the same, without a backend of its own.
    reader = await startBridge({ plugins: { 'storage-postgres': { url: db.url }, history: {} } });
    // (Result URLs start with each instance's own address.)
    const page = async (base: string) => JSON.stringify((await getJson(`${base}/history`)).body).replaceAll(base, 'BASE');
    expect(await page(reader.url)).to.equal(await page(url));
    expect((await getJson(`${reader.url}/generation-count`)).body).to.deep.equal(counts.body);

    // And after the first one restarts, everything is still there.
    await stack.stop();
    stack = await startStack({ plugins: onPostgres() });
    const again = await getJson(`${stack.bridge.url}/history`);
    expect(again.body.total_count).to.equal(2);
    expect((again.body.history as { id: string }[]).map((item) => item.id)).to.include(id);
  });
});
