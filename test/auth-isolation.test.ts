import { expect } from 'chai';
import type { GenerationService } from '../plugins/generations/api.js';
import { startFakeComfy } from './fake-comfyui/index.js';
import type { RunningBridge } from './helpers/bridge.js';
import { startComfyBridge, type ComfyBridge } from './helpers/comfy-bridge.js';
import { FrameReader } from './ws-client.js';

const ADMIN_KEY = 'adm-Kq8sZ2v9Lw4pX7rT1nB6';
const KEY_A = 'cliA-Hj3kL8mN2pQ5rS9tV4';
const KEY_B = 'cliB-Wx7yZ1aB4cD8eF2gH6';

const IMAGE_GRAPH = {
  '1': { inputs: { width: 8, height: 8, batch_size: 1, color: 0 }, class_type: 'EmptyImage', _meta: { title: 'Empty Image', apiinput: 'color' } },
  '2': { inputs: { filename_prefix: 'iso', images: ['1', 0] }, class_type: 'SaveImage', _meta: { title: 'Save Image' } },
};

/** Every route that reads a clientId or a generation, with the real plugins, keys A and B and an admin. */
describe('auth: one key never reaches another key\'s clientId or generations', () => {
  let stack: ComfyBridge;
  let bridge: RunningBridge;
  let generations: GenerationService;
  let genA: string;
  let resultPath: string;
  const open: FrameReader[] = [];

  before(async () => {
    stack = await startComfyBridge({
      fakes: [await startFakeComfy()],
      workflows: { image: IMAGE_GRAPH },
      plugins: {
        util: {},
        auth: { keys: `${ADMIN_KEY}:admin,${KEY_A}:client,${KEY_B}:client` },
        ws: {},
        'execution-info': {},
        results: {},
        history: {},
        interrupt: {},
        free: {},
      },
    });
    ({ bridge, generations } = stack);
    const response = await fetch(`${bridge.url}/generate-based-workflow?clientId=tab-a`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY_A}` },
      body: JSON.stringify({ workflow: 'image', '1/color': 77 }),
    });
    const body = (await response.json()) as { id: string };
    expect(response.status, JSON.stringify(body)).to.equal(200);
    genA = body.id;
    const gen = await generations.waitForEnd(genA, 10_000);
    expect(gen?.state).to.equal('completed');
    resultPath = `/results/${genA}/${encodeURIComponent(gen!.results[0]!.filename)}`;
  });

  after(async () => {
    for (const reader of open) reader.ws.terminate();
    await stack.close();
  });

  const as = (key: string | undefined, path: string, method = 'GET') =>
    fetch(`${bridge.url}${path}`, { method, headers: key === undefined ? {} : { authorization: `Bearer ${key}` } });
  const wsStatus = async (query: string, headers: Record<string, string> = {}): Promise<number> => {
    try {
      const reader = await FrameReader.open(`${bridge.url.replace('http', 'ws')}/ws?${query}`, headers);
      open.push(reader);
      return 101;
    } catch (error) {
      return (error as { status?: number }).status ?? -1;
    }
  };

  it('websocket upgrade: no key 401, key B 404, key A (query or header) and the admin get in', async () => {
    expect(await wsStatus('clientId=tab-a')).to.equal(401);
    expect(await wsStatus('clientId=tab-a&api_key=wrong-wrong-wrong-wrong')).to.equal(401);
    expect(await wsStatus(`clientId=tab-a&api_key=${KEY_B}`)).to.equal(404);
    expect(await wsStatus('clientId=tab-a', { 'x-api-key': KEY_B })).to.equal(404);
    expect(await wsStatus(`clientId=tab-a&api_key=${KEY_A}`)).to.equal(101);
    expect(await wsStatus(`clientId=tab-a&token=${KEY_A}`)).to.equal(101);
    expect(await wsStatus('clientId=tab-a', { authorization: `Bearer ${ADMIN_KEY}` })).to.equal(101);
  });

  it('execution-info: key B gets 404 by clientId and by id; key A and the admin read it', async () => {
    expect((await as(KEY_B, '/execution-info?clientId=tab-a')).status).to.equal(404);
    expect((await as(KEY_B, `/execution-info?id=${genA}`)).status).to.equal(404);
    expect((await as(KEY_A, `/execution-info?id=${genA}`)).status).to.equal(200);
    const admin = await as(ADMIN_KEY, '/execution-info?clientId=tab-a');
    expect(admin.status).to.equal(200);
    expect(((await admin.json()) as { data: { id: string } }).data.id).to.equal(genA);
  });

  it('results: key B gets 404; key A and the admin download the file', async () => {
    expect((await as(KEY_B, resultPath)).status).to.equal(404);
    expect((await as(undefined, resultPath)).status).to.equal(401);
    const own = await as(KEY_A, resultPath);
    expect(own.status).to.equal(200);
    expect(own.headers.get('content-type')).to.equal('image/png');
    expect((await as(ADMIN_KEY, resultPath)).status).to.equal(200);
  });

  it("history: key B sees none of key A's generations and gets 404 filtering by its clientId; the admin sees them", async () => {
    const ids = async (key: string, query: string) =>
      ((await (await as(key, `/history${query}`)).json()) as { history: { id: string }[]; total_count: number }).history.map((item) => item.id);
    expect(await ids(KEY_B, '')).to.deep.equal([]);
    const filtered = await as(KEY_B, '/history?clientId=tab-a');
    expect(filtered.status).to.equal(404);
    expect(((await filtered.json()) as { error: string }).error).to.equal('not_found');
    expect(await ids(KEY_A, '')).to.deep.equal([genA]);
    expect(await ids(ADMIN_KEY, '?clientId=tab-a')).to.deep.equal([genA]);
  });

  it('generate and interrupt: key B gets 404 on tab-a; free needs the admin key', async () => {
    const generate = await fetch(`${bridge.url}/generate-based-workflow?clientId=tab-a`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY_B}` },
      body: JSON.stringify({ workflow: 'image' }),
    });
    expect(generate.status).to.equal(404);
    expect((await as(KEY_B, '/interrupt?clientId=tab-a', 'POST')).status).to.equal(404);
    expect((await as(KEY_B, `/interrupt?id=${genA}`, 'POST')).status).to.equal(404);
    const own = await as(KEY_A, '/interrupt?clientId=tab-a', 'POST');
    expect(own.status).to.equal(200);
    expect(await own.json()).to.include({ id: genA, status: 'completed' });
    expect((await as(KEY_A, '/free', 'POST')).status).to.equal(403);
    expect((await as(ADMIN_KEY, '/free?clientId=tab-a', 'POST')).status).to.equal(200);
  });

  it('keeps /health open', async () => {
    expect((await as(undefined, '/health')).status).to.equal(200);
  });
});
