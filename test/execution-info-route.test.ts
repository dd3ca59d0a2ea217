import { expect } from 'chai';
import { unauthorized } from '../core/errors.js';
import type { Principal } from '../contracts/auth.js';
import { definePlugin, type PluginManifest } from '../core/plugin.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { StubGenerations, stubGenerationsPlugin } from './ws-stub-generations.js';

/** Keys: "k1" and "k2" are client keys, "adm" is an admin key; no key = anonymous admin (auth off). */
const keyAuth: PluginManifest<never> = definePlugin({
  name: 'key-auth',
  register(ctx) {
    ctx.hooks.authenticate.tapPromise('key-auth', async (request): Promise<Principal | undefined> => {
      const key = request.headers['x-api-key'];
      if (key === undefined) return undefined;
      if (key === 'adm') return { id: 'adm', scopes: ['admin', 'client'], anonymous: false };
      if (key === 'k1' || key === 'k2') return { id: key, scopes: ['client'], anonymous: false };
      throw unauthorized('unknown key');
    });
  },
}) as PluginManifest<never>;

describe('GET /execution-info (scripted generations)', () => {
  let bridge: RunningBridge;
  let stub: StubGenerations;

  beforeEach(async () => {
    stub = new StubGenerations();
    bridge = await startBridge({ plugins: { 'execution-info': {} }, extraPlugins: [stubGenerationsPlugin(stub), keyAuth] });
  });
  afterEach(() => bridge.close());

  async function get(query: string, key?: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(`${bridge.url}/execution-info${query}`, { headers: key ? { 'x-api-key': key } : {} });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  it('answers the latest generation of a client in the frame shape', async () => {
    stub.add({ clientId: 'c1', state: 'completed' });
    const latest = stub.add({ clientId: 'c1', state: 'running', percent: 42.5 });
    stub.add({ clientId: 'c2', state: 'running', percent: 10 });
    const answer = await get('?clientId=c1');
    expect(answer.status).to.equal(200);
    expect(answer.body).to.include({ status: 'progress', details: '42.50%' });
    expect((answer.body.data as Record<string, unknown>).id).to.equal(latest.id);
  });

  it('follows a generation to closed and to error', async () => {
    const done = stub.add({ clientId: 'c1', state: 'running' });
    stub.update(done.id, { state: 'completed' });
    expect((await get(`?id=${done.id}`)).body.status).to.equal('closed');
    const failed = stub.add({ clientId: 'c1', state: 'running' });
    stub.update(failed.id, { state: 'failed', error: 'boom' });
    expect((await get(`?id=${failed.id}`)).body).to.include({ status: 'error', details: 'boom' });
  });

  it('answers 400 without clientId or id, and for malformed values', async () => {
    for (const query of ['', '?clientId=', '?clientId=a%20b', `?id=${'x'.repeat(200)}`]) {
      const answer = await get(query);
      expect(answer.status, query).to.equal(400);
      expect(answer.body.error).to.equal('bad_request');
    }
  });

  it('answers 404 for an unknown client or id, and for an id of another client', async () => {
    const gen = stub.add({ clientId: 'c1' });
    expect((await get('?clientId=nobody')).status).to.equal(404);
    expect((await get('?id=gen_unknown')).status).to.equal(404);
    expect((await get(`?id=${gen.id}&clientId=c2`)).status).to.equal(404);
    expect((await get(`?id=${gen.id}&clientId=c1`)).status).to.equal(200);
  });

  it('hides a generation from another key (404), not from its owner or an admin', async () => {
    const gen = stub.add({ clientId: 'c1', owner: 'k1' });
    expect((await get(`?id=${gen.id}`, 'k1')).status).to.equal(200);
    expect((await get(`?id=${gen.id}`, 'adm')).status).to.equal(200);
    const hidden = await get(`?id=${gen.id}`, 'k2');
    expect(hidden.status).to.equal(404);
    expect((await get('?clientId=c1', 'k2')).status).to.equal(404);
    expect((await get('?clientId=c1', 'bogus')).status).to.equal(401);
  });
});
