import { expect } from 'chai';
import { boundClientIds } from './helpers/bindings.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createApp, type BridgeApp } from '../core/app.js';
import { loadConfig } from '../cli/config/load.js';
import type { Principal } from '../contracts/auth.js';
import type { Generation } from '../contracts/generation.js';
import type { Storage } from '../contracts/storage.js';
import type { Transport } from '../contracts/transport.js';
import { BootError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { definePlugin, type PluginManifest } from '../core/plugin.js';
import { startBridge } from './helpers/bridge.js';
import { providing } from './helpers/fixture-plugins.js';
import { generationRecord } from './helpers/generation.js';

const ADMIN_KEY = 'adm-Kq8sZ2v9Lw4pX7rT1nB6';
const KEY_A = 'cliA-Hj3kL8mN2pQ5rS9tV4';
const KEY_B = 'cliB-Wx7yZ1aB4cD8eF2gH6';

/** Test-only routes that expose what the auth plugin decided, and a transport that frees nothing real. */
function probePlugins(seen: { storage?: Storage; freed: (string | undefined)[] }): PluginManifest<never>[] {
  const transport = {
    backends: () => [],
    free: (backend?: string) => {
      seen.freed.push(backend);
      return Promise.resolve([{ name: 'local', url: 'http://127.0.0.1:1', ok: true }]);
    },
  } as unknown as Transport;
  const stubTransport = providing('stub-transport', { transport });
  const probe = definePlugin({
    name: 'auth-probe',
    dependencies: ['access', 'storage'],
    register(ctx) {
      seen.storage = ctx.use('storage');
      ctx.route({
        method: 'get',
        path: '/probe/whoami',
        summary: 'who is calling',
        handler(http) {
          http.body = http.state.principal as Principal;
        },
      });
      ctx.route({
        method: 'get',
        path: '/probe/clients/:clientId',
        summary: 'use a clientId',
        async handler(http) {
          await ctx.use('access').claimClient(http.params.clientId!, http.state.principal as Principal);
          http.body = { ok: true };
        },
      });
    },
  });
  return [stubTransport, probe as PluginManifest<never>];
}

function generation(id: string, clientId: string, owner: string | null, createdAt: string): Generation {
  return generationRecord({
    id,
    createdAt,
    clientId,
    owner,
    state: 'completed',
    backend: 'local',
    startedAt: createdAt,
    finishedAt: createdAt,
    position: 0,
    percent: 100,
    doneNodes: ['1'],
    attempts: 1,
  });
}

describe('auth: HTTP with keys from COMFY_BRIDGE_API_KEYS', () => {
  let app: BridgeApp;
  let url: string;
  let dataDir: string;
  const logLines: string[] = [];
  const seen: { storage?: Storage; freed: (string | undefined)[] } = { freed: [] };

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'comfy-bridge-auth-'));
    const config = await loadConfig({
      inline: {
        server: { host: '127.0.0.1', port: 0 },
        dataDir,
        // auth: false as in config/default.yaml; the environment variable alone turns it on.
        plugins: { 'storage-nedb': { inMemory: true }, util: {}, history: {}, free: {}, auth: false },
      },
      env: { COMFY_BRIDGE_API_KEYS: `${ADMIN_KEY}:admin,${KEY_A},${KEY_B}:client` },
    });
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(chunk.toString('utf8'));
        done();
      },
    });
    app = await createApp(config, { plugins: probePlugins(seen), log: createLogger('trace', sink) });
    ({ url } = await app.start());
  });

  after(async () => {
    await app.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${url}${path}`, { headers });
  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

  it('loads the auth plugin from the environment variable', () => {
    expect(app.plugins).to.include('auth');
  });

  it('keeps /health open', async () => {
    const response = await get('/health');
    expect(response.status).to.equal(200);
  });

  it('answers 401 with WWW-Authenticate: Bearer when no key is sent', async () => {
    const response = await get('/probe/whoami');
    expect(response.status).to.equal(401);
    expect(response.headers.get('www-authenticate')).to.match(/^Bearer realm="comfy-bridge"$/);
    const body = (await response.json()) as { error: string; detail: string };
    expect(body.error).to.equal('unauthorized');
    expect(body.detail).to.match(/Authorization: Bearer/);
  });

  it('answers 401 for an unknown key, a near miss, another scheme, and a key in the query of a REST route', async () => {
    for (const headers of [bearer('nope-nope-nope-nope-nope'), bearer(`${KEY_A}x`), { 'x-api-key': KEY_A.slice(0, -1) }]) {
      const response = await get('/probe/whoami', headers);
      expect(response.status).to.equal(401);
      expect(response.headers.get('www-authenticate')).to.include('error="invalid_token"');
      expect(((await response.json()) as { error: string }).error).to.equal('unauthorized');
    }
    expect((await get('/probe/whoami', { authorization: `Basic ${KEY_A}` })).status).to.equal(401);
    // The query carries a key only on the websocket path.
    expect((await get('/probe/whoami?api_key=nope-nope-nope-nope-nope')).status).to.equal(401);
  });

  it('knows each key by its scopes from the compact form (a key without a scope is a client key)', async () => {
    const admin = (await (await get('/probe/whoami', bearer(ADMIN_KEY))).json()) as Principal;
    const a = (await (await get('/probe/whoami', { 'x-api-key': KEY_A })).json()) as Principal;
    const b = (await (await get('/probe/whoami', bearer(KEY_B))).json()) as Principal;
    expect(admin.scopes).to.deep.equal(['admin', 'client']);
    expect(a.scopes).to.deep.equal(['client']);
    expect(b.scopes).to.deep.equal(['client']);
    expect(new Set([admin.id, a.id, b.id]).size).to.equal(3);
    for (const principal of [admin, a, b]) {
      expect(principal.anonymous).to.equal(false);
      expect(principal.id).to.match(/^key-[0-9a-f]{12}$/);
    }
  });

  it('refuses a client key on an admin route (/free) with 403 and lets the admin key through', async () => {
    const refused = await fetch(`${url}/free`, { method: 'POST', headers: bearer(KEY_A) });
    expect(refused.status).to.equal(403);
    expect(((await refused.json()) as { error: string }).error).to.equal('forbidden');
    expect(seen.freed).to.deep.equal([]);
    const allowed = await fetch(`${url}/free`, { method: 'POST', headers: bearer(ADMIN_KEY) });
    expect(allowed.status).to.equal(200);
    expect(seen.freed).to.deep.equal([undefined]);
  });

  it('binds a clientId to the first key: key B gets 404 for key A\'s clientId, the admin passes', async () => {
    expect((await get('/probe/clients/tab-a', bearer(KEY_A))).status).to.equal(200);
    const stolen = await get('/probe/clients/tab-a', bearer(KEY_B));
    expect(stolen.status).to.equal(404);
    expect(((await stolen.json()) as { error: string }).error).to.equal('not_found');
    expect((await get('/probe/clients/tab-a', bearer(ADMIN_KEY))).status).to.equal(200);
    expect((await get('/probe/clients/tab-a', bearer(KEY_A))).status).to.equal(200);
    const a = (await (await get('/probe/whoami', bearer(KEY_A))).json()) as Principal;
    expect(a.id).to.match(/^key-[0-9a-f]{12}$/);
    expect(await boundClientIds(seen.storage!.kv, a.id)).to.deep.equal(['tab-a']);
  });

  it('shows a client key only its own history; the admin sees all', async () => {
    const a = (await (await get('/probe/whoami', bearer(KEY_A))).json()) as Principal;
    const b = (await (await get('/probe/whoami', bearer(KEY_B))).json()) as Principal;
    await seen.storage!.generations.insert(generation('gen_aaaaaaaaaaaaaaaaaaaaaa', 'tab-a', a.id, '2026-01-01T00:00:01.000Z'));
    await seen.storage!.generations.insert(generation('gen_bbbbbbbbbbbbbbbbbbbbbb', 'tab-b', b.id, '2026-01-01T00:00:02.000Z'));
    const ids = async (path: string, key: string) =>
      ((await (await get(path, bearer(key))).json()) as { history: { id: string }[] }).history.map((item) => item.id);
    expect(await ids('/history', KEY_A)).to.deep.equal(['gen_aaaaaaaaaaaaaaaaaaaaaa']);
    expect(await ids('/history', KEY_B)).to.deep.equal(['gen_bbbbbbbbbbbbbbbbbbbbbb']);
    // tab-a is key A's clientId: asking for it with key B is refused like its socket (404, ids do not leak).
    expect((await get('/history?clientId=tab-a', bearer(KEY_B))).status).to.equal(404);
    expect(await ids('/history', ADMIN_KEY)).to.deep.equal(['gen_bbbbbbbbbbbbbbbbbbbbbb', 'gen_aaaaaaaaaaaaaaaaaaaaaa']);
  });

  it('never writes a key into the log', () => {
    const text = logLines.join('');
    expect(text).to.include('"msg":"request"');
    expect(text).to.include('auth on: 3 API key(s)');
    for (const key of [ADMIN_KEY, KEY_A, KEY_B]) expect(text).not.to.include(key);
  });

  it('redacts Authorization and X-API-Key headers when a logger is given them', () => {
    const lines: string[] = [];
    const log = createLogger('info', new Writable({ write: (chunk: Buffer, _e, done) => void (lines.push(chunk.toString()), done()) }));
    log.info({ req: { headers: { authorization: `Bearer ${KEY_A}`, 'x-api-key': KEY_B } } }, 'incoming');
    log.info({ headers: { authorization: `Bearer ${KEY_A}`, 'x-api-key': KEY_B } }, 'upgrade');
    const text = lines.join('');
    expect(text).to.include('[redacted]');
    expect(text).not.to.include(KEY_A);
    expect(text).not.to.include(KEY_B);
  });
});

describe('auth: config', () => {
  it('takes the object form with ids and scopes', async () => {
    const seen: { storage?: Storage; freed: (string | undefined)[] } = { freed: [] };
    const bridge = await startBridge({
      plugins: {
        'storage-nedb': { inMemory: true },
        auth: { keys: [{ id: 'ops', key: ADMIN_KEY, scopes: ['admin', 'client'] }, { id: 'web', key: KEY_A }] },
      },
      extraPlugins: probePlugins(seen),
    });
    try {
      const web = (await (await fetch(`${bridge.url}/probe/whoami`, { headers: { 'x-api-key': KEY_A } })).json()) as Principal;
      expect(web).to.deep.equal({ id: 'web', scopes: ['client'], anonymous: false });
      const ops = (await (await fetch(`${bridge.url}/probe/whoami`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).json()) as Principal;
      expect(ops).to.deep.equal({ id: 'ops', scopes: ['admin', 'client'], anonymous: false });
    } finally {
      await bridge.close();
    }
  });

  it('stops the start on a key shorter than 16 characters, without printing it', async () => {
    let failure: unknown;
    try {
      const bridge = await startBridge({ plugins: { 'storage-nedb': { inMemory: true }, auth: { keys: 'short-key:admin' } } });
      await bridge.close();
    } catch (error) {
      failure = error;
    }
    expect(failure).to.be.instanceOf(BootError);
    expect((failure as Error).message).to.match(/shorter than 16 characters/);
    expect((failure as Error).message).not.to.include('short-key');
  });

  it('refuses an unknown option and a wrongly typed scope', async () => {
    for (const auth of [{ keys: [KEY_A], extra: 1 }, { keys: [{ key: KEY_A, scopes: ['root'] }] }]) {
      let failure: unknown;
      try {
        const bridge = await startBridge({ plugins: { 'storage-nedb': { inMemory: true }, auth } });
        await bridge.close();
      } catch (error) {
        failure = error;
      }
      expect(failure).to.be.instanceOf(BootError);
      expect((failure as Error).message).to.include('plugins.auth');
      expect((failure as Error).message).not.to.include(KEY_A);
    }
  });
});
