import { expect } from 'chai';
import type { Principal } from '../contracts/auth.js';
import type { Generation } from '../contracts/generation.js';
import type { GenerationService } from '../plugins/generations/api.js';
import type { Storage } from '../contracts/storage.js';
import { definePlugin, type PluginManifest } from '../core/plugin.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { providing } from './helpers/fixture-plugins.js';
import { numberedGenerations } from './helpers/generation.js';

const makeGeneration = numberedGenerations({ start: '2026-07-07T15:00:00.000Z', idPrefix: 'gen_h', idDigits: 4 });

const png = (filename: string) => ({ filename, contentType: 'image/png', size: 3, node: '9', kind: 'images' });

/** Hands the test the storage service, and (optionally) a test-only authenticator keyed by a header. */
function fixture(holder: { storage?: Storage }, withAuth = false): PluginManifest<never> {
  return definePlugin({
    name: 'history-fixture',
    dependencies: ['storage'],
    register(ctx) {
      holder.storage = ctx.use('storage');
      if (!withAuth) return;
      ctx.hooks.authenticate.tapPromise({ name: 'history-fixture' }, (request) => {
        const key = request.headers['x-test-key'];
        if (key === 'admin') return Promise.resolve<Principal>({ id: 'admin', scopes: ['client', 'admin'], anonymous: false });
        if (typeof key === 'string') return Promise.resolve<Principal>({ id: key, scopes: ['client'], anonymous: false });
        return Promise.resolve(undefined);
      });
    },
  }) as PluginManifest<never>;
}

interface HistoryBody {
  history: Record<string, unknown>[];
  total_count: number;
  page: number;
  page_size: number;
}

async function getJson<T>(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const response = await fetch(url, { headers });
  return { status: response.status, body: (await response.json()) as T };
}

describe('history routes', () => {
  let bridge: RunningBridge | undefined;
  const holder: { storage?: Storage } = {};
  const insert = async (...gens: Generation[]) => {
    for (const gen of gens) await (holder.storage as Storage).generations.insert(gen);
  };

  afterEach(async () => {
    await bridge?.close();
    bridge = undefined;
  });

  describe('without auth', () => {
    beforeEach(async () => {
      bridge = await startBridge({ plugins: { 'storage-nedb': { inMemory: true }, history: {} }, extraPlugins: [fixture(holder)] });
    });

    it('answers the seed shape, newest first, with page arithmetic', async () => {
      const gens = Array.from({ length: 12 }, () => makeGeneration());
      await insert(...gens);
      const { status, body } = await getJson<HistoryBody>(`${bridge!.url}/history?limit=5&offset=10`);
      expect(status).to.equal(200);
      expect(body.total_count).to.equal(12);
      expect(body.page).to.equal(3);
      expect(body.page_size).to.equal(5);
      expect(body.history.map((h) => h.id)).to.deep.equal([gens[1]!.id, gens[0]!.id]);
      expect(body.history[0]).to.deep.equal({
        id: gens[1]!.id,
        timestamp: gens[1]!.createdAt,
        workflow: 'text-to-image',
        status: 'queued',
        clientId: 'client-a',
      });

      const defaults = await getJson<HistoryBody>(`${bridge!.url}/history`);
      expect(defaults.body.page).to.equal(1);
      expect(defaults.body.page_size).to.equal(10);
      expect(defaults.body.history).to.have.length(10);
      expect(defaults.body.history[0]?.id).to.equal(gens[11]!.id);

      const partial = await getJson<HistoryBody>(`${bridge!.url}/history?limit=4&offset=6`);
      expect(partial.body.page).to.equal(2);
    });

    it('gives completed rows result URLs from the request origin and failed rows their error', async () => {
      const done = makeGeneration({ state: 'completed', results: [png('ComfyUI_00001_.png'), png('a b#.png')] });
      const empty = makeGeneration({ state: 'completed' });
      const failed = makeGeneration({ state: 'failed', error: 'Input image not found' });
      const stopped = makeGeneration({ state: 'interrupted', error: null });
      await insert(done, empty, failed, stopped);
      const { body } = await getJson<HistoryBody>(`${bridge!.url}/history`);
      const byId = new Map(body.history.map((h) => [h.id, h]));
      expect(byId.get(done.id)).to.deep.include({
        result_url: `${bridge!.url}/results/${done.id}/ComfyUI_00001_.png`,
        result_urls: [`${bridge!.url}/results/${done.id}/ComfyUI_00001_.png`, `${bridge!.url}/results/${done.id}/a%20b%23.png`],
      });
      expect(byId.get(done.id)).to.not.have.property('error_message');
      expect(byId.get(empty.id)).to.deep.include({ result_url: null, result_urls: [] });
      expect(byId.get(failed.id)).to.deep.include({ status: 'failed', error_message: 'Input image not found' });
      expect(byId.get(failed.id)).to.not.have.property('result_url');
      expect(byId.get(stopped.id)).to.deep.include({ status: 'interrupted', error_message: 'interrupted' });
    });

    it('filters by clientId, workflow and status', async () => {
      const a = makeGeneration({ clientId: 'a', workflow: 'w1', state: 'completed' });
      const b = makeGeneration({ clientId: 'b', workflow: 'w1', state: 'failed', error: 'x' });
      const c = makeGeneration({ clientId: 'a', workflow: 'w2', state: 'failed', error: 'y' });
      await insert(a, b, c);
      const ids = async (query: string) => (await getJson<HistoryBody>(`${bridge!.url}/history?${query}`)).body.history.map((h) => h.id);
      expect(await ids('clientId=a')).to.deep.equal([c.id, a.id]);
      expect(await ids('workflow=w1')).to.deep.equal([b.id, a.id]);
      expect(await ids('status=failed')).to.deep.equal([c.id, b.id]);
      expect(await ids('clientId=a&status=failed&workflow=w2')).to.deep.equal([c.id]);
      expect((await getJson<HistoryBody>(`${bridge!.url}/history?clientId=zzz`)).body).to.deep.equal({
        history: [],
        total_count: 0,
        page: 1,
        page_size: 10,
      });
    });

    for (const query of ['limit=0', 'limit=101', 'limit=abc', 'limit=2.5', 'offset=-1', 'offset=1.5', 'offset=x', 'status=done', 'clientId=']) {
      it(`answers 400 with {error, detail} for ${query}`, async () => {
        const { status, body } = await getJson<{ error: string; detail: string }>(`${bridge!.url}/history?${query}`);
        expect(status).to.equal(400);
        expect(body.error).to.equal('bad_request');
        expect(body.detail).to.be.a('string').and.include(query.split('=')[0]);
      });
    }

    it('counts every generation recorded, by status, and prune does not lower it', async () => {
      const gens = [makeGeneration(), makeGeneration(), makeGeneration()];
      await insert(...gens);
      const store = (holder.storage as Storage).generations;
      await store.update(gens[0]!.id, { state: 'completed' });
      await store.update(gens[1]!.id, { state: 'failed', error: 'boom' });
      const expected = { generation_count: 3, by_status: { queued: 1, running: 0, completed: 1, failed: 1, interrupted: 0 } };
      expect(await getJson(`${bridge!.url}/generation-count`)).to.deep.equal({ status: 200, body: expected });
      await store.prune({ keep: 0 });
      expect((await getJson<HistoryBody>(`${bridge!.url}/history`)).body.total_count).to.equal(1);
      expect((await getJson(`${bridge!.url}/generation-count`)).body).to.deep.equal(expected);
    });

    it('shows up in the recorded routes with its query schema', () => {
      const routes = bridge!.app.routes().filter((r) => r.plugin === 'history');
      expect(routes.map((r) => `${r.method} ${r.path}`)).to.deep.equal(['get /history', 'get /generation-count']);
      expect(routes[0]?.query).to.have.nested.property('properties.limit.maximum', 100);
    });
  });

  describe('result URL sources', () => {
    it('uses server.publicUrl when set', async () => {
      bridge = await startBridge({
        plugins: { 'storage-nedb': { inMemory: true }, history: {} },
        extraPlugins: [fixture(holder)],
        config: { server: { publicUrl: 'https://images.example.com/bridge/' } },
      });
      const gen = makeGeneration({ state: 'completed', results: [png('out.png')] });
      await insert(gen);
      const { body } = await getJson<HistoryBody>(`${bridge.url}/history`);
      expect(body.history[0]?.result_url).to.equal(`https://images.example.com/bridge/results/${gen.id}/out.png`);
    });

    it("prefers the generations service's resultUrl when it is loaded", async () => {
      const generations = providing('fake-generations', {
        generations: { resultUrl: (gen: Generation, file: string) => `svc://${gen.id}/${file}` } as unknown as GenerationService,
      });
      bridge = await startBridge({ plugins: { 'storage-nedb': { inMemory: true }, history: {} }, extraPlugins: [fixture(holder), generations] });
      const gen = makeGeneration({ state: 'completed', results: [png('out.png')] });
      await insert(gen);
      const { body } = await getJson<HistoryBody>(`${bridge.url}/history`);
      expect(body.history[0]?.result_urls).to.deep.equal([`svc://${gen.id}/out.png`]);
    });
  });

  describe('with auth', () => {
    beforeEach(async () => {
      bridge = await startBridge({ plugins: { 'storage-nedb': { inMemory: true }, history: {} }, extraPlugins: [fixture(holder, true)] });
    });

    it('a client key sees only its own generations; an admin sees all', async () => {
      const mine = makeGeneration({ owner: 'key1', clientId: 'shared' });
      const theirs = makeGeneration({ owner: 'key2', clientId: 'shared' });
      const ownerless = makeGeneration({ owner: null, clientId: 'shared' });
      await insert(mine, theirs, ownerless);

      const asKey1 = await getJson<HistoryBody>(`${bridge!.url}/history`, { 'x-test-key': 'key1' });
      expect(asKey1.body.history.map((h) => h.id)).to.deep.equal([mine.id]);
      expect(asKey1.body.total_count).to.equal(1);
      const filtered = await getJson<HistoryBody>(`${bridge!.url}/history?clientId=shared`, { 'x-test-key': 'key2' });
      expect(filtered.body.history.map((h) => h.id)).to.deep.equal([theirs.id]);
      const asAdmin = await getJson<HistoryBody>(`${bridge!.url}/history`, { 'x-test-key': 'admin' });
      expect(asAdmin.body.history.map((h) => h.id)).to.deep.equal([ownerless.id, theirs.id, mine.id]);
    });
  });
});
