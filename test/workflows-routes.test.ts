import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Transport } from '../contracts/transport.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { providing } from './helpers/fixture-plugins.js';
import { IMAGE_SCALE_OBJECT_INFO } from './helpers/object-info.js';
import { until } from './helpers/until.js';

const invertGraph = {
  '10': { inputs: { image: 'example.png' }, class_type: 'LoadImage', _meta: { title: 'Load Image', apiinput: 'image' } },
  '11': { inputs: { image: ['10', 0] }, class_type: 'ImageInvert', _meta: { title: 'Invert Image' } },
  '12': { inputs: { filename_prefix: 'inv', images: ['11', 0] }, class_type: 'SaveImage', _meta: { title: 'Save Image' } },
};
const scaleGraph = {
  '10': { inputs: { image: 'example.png' }, class_type: 'LoadImage', _meta: { title: 'Load Image' } },
  '11': {
    inputs: { upscale_method: 'nearest-exact', width: 512, height: 512, crop: 'disabled', image: ['10', 0] },
    class_type: 'ImageScale',
    _meta: { title: 'Upscale Image', apiinput: 'width,upscale_method' },
  },
  '12': { inputs: { filename_prefix: 'scaled', images: ['11', 0] }, class_type: 'SaveImage', _meta: { title: 'Save Image' } },
};

/** Provides 'transport' with only objectInfo: enough for /workflow-info, and proves no other call is made. */
const stubTransportPlugin = (calls: string[]) =>
  providing('stub-transport', {
    transport: {
      objectInfo: async (classType: string) => {
        calls.push(classType);
        return classType === 'ImageScale' ? IMAGE_SCALE_OBJECT_INFO : {};
      },
    } as unknown as Transport,
  });

describe('workflows: routes through the bridge', () => {
  let dir: string;
  let bridge: RunningBridge | undefined;

  const get = async (path: string) => {
    const response = await fetch(`${bridge!.url}${path}`);
    return { status: response.status, body: (await response.json()) as unknown };
  };
  const aliases = async () => ((await get('/workflow-list')).body as { alias: string }[]).map((w) => w.alias);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cb-routes-'));
    await writeFile(join(dir, 'invert.json'), JSON.stringify(invertGraph));
    await writeFile(join(dir, 'scale.json'), JSON.stringify(scaleGraph));
    await writeFile(
      join(dir, 'scale.workflow.yaml'),
      'description: Scales an image.\nthumbnail: https://example.com/scale.png\ninputs:\n  11/width:\n    max: 4096\n',
    );
    await writeFile(join(dir, 'broken.json'), '{"nodes": [], "links": []}');
  });
  afterEach(async () => {
    await bridge?.close();
    bridge = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  describe('with a backend (stub transport)', () => {
    const calls: string[] = [];
    beforeEach(async () => {
      calls.length = 0;
      bridge = await startBridge({ plugins: { workflows: { dir, watch: false } }, extraPlugins: [stubTransportPlugin(calls)] });
    });

    it('GET /workflow-list lists every good workflow, skipping the bad file', async () => {
      const { status, body } = await get('/workflow-list');
      expect(status).to.equal(200);
      expect(body).to.deep.equal([
        { alias: 'invert', description: '', thumbnail: null },
        { alias: 'scale', description: 'Scales an image.', thumbnail: 'https://example.com/scale.png' },
      ]);
    });

    it('GET /workflow-info answers the SPEC shape, enriched from object_info, with manifest values first', async () => {
      const invert = await get('/workflow-info?workflow=invert');
      expect(invert.status).to.equal(200);
      expect(invert.body).to.deep.equal({
        '10/image': { type: 'str', title: 'Load Image', class: 'LoadImage', default: 'example.png', kind: 'image' },
      });
      const scale = await get('/workflow-info?workflow=scale&clientId=abc-123');
      expect(scale.status).to.equal(200);
      expect(scale.body).to.deep.equal({
        '11/width': { type: 'int', title: 'Upscale Image', class: 'ImageScale', default: 512, max: 4096, min: 0, step: 1 },
        '11/upscale_method': {
          type: 'str',
          title: 'Upscale Image',
          class: 'ImageScale',
          default: 'nearest-exact',
          options: ['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos'],
        },
      });
      expect(calls).to.include('ImageScale');
    });

    it('GET /workflow-info without workflow → 400 naming the parameter', async () => {
      const { status, body } = await get('/workflow-info');
      expect(status).to.equal(400);
      expect(body).to.have.property('error', 'bad_request');
      expect((body as { detail: string }).detail).to.contain('workflow');
      const empty = await get('/workflow-info?workflow=');
      expect(empty.status).to.equal(400);
    });

    it('GET /workflow-info with an unknown alias → 404', async () => {
      const { status, body } = await get('/workflow-info?workflow=broken');
      expect(status).to.equal(404);
      expect(body).to.deep.equal({ error: 'not_found', detail: 'no workflow named "broken"' });
    });

    it('records both routes with their schemas and the client scope (what the OpenAPI document is built from)', () => {
      const mine = bridge!.app.routes().filter((route) => route.plugin === 'workflows');
      expect(mine.map((route) => `${route.method} ${route.path} ${route.scope}`)).to.have.members([
        'get /workflow-list client',
        'get /workflow-info client',
      ]);
      const info = mine.find((route) => route.path === '/workflow-info');
      expect(info?.query).to.have.nested.property('required[0]', 'workflow');
      expect(info?.responses).to.have.keys(['200', '400', '404']);
    });
  });

  describe('without a backend', () => {
    it('GET /workflow-info answers from the graph and manifest alone', async () => {
      bridge = await startBridge({ plugins: { workflows: { dir, watch: false } } });
      const { status, body } = await get('/workflow-info?workflow=scale');
      expect(status).to.equal(200);
      expect(body).to.deep.equal({
        '11/width': { type: 'int', title: 'Upscale Image', class: 'ImageScale', default: 512, max: 4096 },
        '11/upscale_method': { type: 'str', title: 'Upscale Image', class: 'ImageScale', default: 'nearest-exact' },
      });
    });
  });

  describe('reloading', () => {
    it('picks up a workflow added to the watched folder, and drops a removed one', async () => {
      bridge = await startBridge({ plugins: { workflows: { dir, watch: true, watchDebounceMs: 50 } } });
      expect(await aliases()).to.deep.equal(['invert', 'scale']);
      await writeFile(join(dir, 'added.json'), JSON.stringify(invertGraph));
      await until(async () => (await aliases()).includes('added'), 'the added workflow to be listed', 5000);
      expect((await get('/workflow-info?workflow=added')).status).to.equal(200);
      await rm(join(dir, 'invert.json'));
      await until(async () => !(await aliases()).includes('invert'), 'the removed workflow to be dropped', 5000);
      expect((await get('/workflow-info?workflow=invert')).status).to.equal(404);
    });

    it('answers the new description and list of a workflow changed under the same alias (no stale serialised answer)', async () => {
      bridge = await startBridge({ plugins: { workflows: { dir, watch: true, watchDebounceMs: 50 } } });
      const before = await fetch(`${bridge.url}/workflow-info?workflow=invert`);
      expect(before.headers.get('content-type')).to.equal('application/json; charset=utf-8');
      expect(Object.keys((await before.json()) as object)).to.deep.equal(['10/image']);
      const list = await fetch(`${bridge.url}/workflow-list`);
      expect(list.headers.get('content-type')).to.equal('application/json; charset=utf-8');
      expect(((await list.json()) as { description: string }[])[0]!.description).to.equal('');
      await writeFile(join(dir, 'invert.workflow.yaml'), 'description: Inverts, now described.\n');
      await writeFile(join(dir, 'invert.json'), JSON.stringify(scaleGraph));
      await until(async () => Object.keys((await get('/workflow-info?workflow=invert')).body as object).includes('11/width'), 'the changed graph to be described', 5000);
      await until(async () => ((await get('/workflow-list')).body as { description: string }[])[0]!.description === 'Inverts, now described.', 'the new description', 5000);
    });

    it('reloads on SIGHUP when not watching, and removes its signal listener on close', async () => {
      const before = process.listenerCount('SIGHUP');
      bridge = await startBridge({ plugins: { workflows: { dir, watch: false } } });
      expect(process.listenerCount('SIGHUP')).to.equal(before + 1);
      await writeFile(join(dir, 'late.json'), JSON.stringify(invertGraph));
      // Not watching: this wait proves that nothing picks the file up by itself, so there is no condition to wait on.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await aliases()).to.not.include('late');
      process.kill(process.pid, 'SIGHUP');
      await until(async () => (await aliases()).includes('late'), 'the SIGHUP reload', 5000);
      await bridge.close();
      bridge = undefined;
      expect(process.listenerCount('SIGHUP')).to.equal(before);
    });
  });
});
