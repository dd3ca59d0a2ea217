import { expect } from 'chai';
import { boundClientIds } from './helpers/bindings.js';
import type { Principal } from '../contracts/auth.js';
import type { Generation, GenerationState } from '../contracts/generation.js';
import type { GenerationService } from '../plugins/generations/api.js';
import type { Storage } from '../contracts/storage.js';
import { definePlugin, type PluginManifest } from '../core/plugin.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { generationRecord } from './helpers/generation.js';

const ADMIN_KEY = 'adm-Kq8sZ2v9Lw4pX7rT1nB6';
const KEY_A = 'cliA-Hj3kL8mN2pQ5rS9tV4';
const KEY_B = 'cliB-Wx7yZ1aB4cD8eF2gH6';

/**
 * A generations service over the real storage that only records interrupts: these tests are about
 * which generation /interrupt picks and what it answers, not about ComfyUI (see interrupt-comfyui).
 */
class RecordingGenerations {
  readonly interrupted: string[] = [];
  /** What interrupt() reports, to play "it finished on its own meanwhile". */
  endsAs: GenerationState = 'interrupted';

  constructor(private readonly storage: Storage) {}

  get = (id: string) => this.storage.generations.get(id);
  latestForClient = (clientId: string) => this.storage.generations.latestForClient(clientId);
  interrupt = async (id: string): Promise<Generation> => {
    this.interrupted.push(id);
    return (await this.storage.generations.update(id, { state: this.endsAs }))!;
  };
}

function stubGenerationsPlugin(holder: { service?: RecordingGenerations; storage?: Storage }): PluginManifest<never> {
  return definePlugin({
    name: 'stub-generations',
    dependencies: ['storage'],
    provides: ['generations'],
    register(ctx) {
      holder.storage = ctx.use('storage');
      holder.service = new RecordingGenerations(holder.storage);
      ctx.provide('generations', holder.service as unknown as GenerationService);
    },
  }) as PluginManifest<never>;
}

let clock = Date.parse('2026-01-01T00:00:00.000Z');
function generation(id: string, clientId: string, state: GenerationState, owner: string | null = null): Generation {
  clock += 1000;
  const at = new Date(clock).toISOString();
  return generationRecord({ id, createdAt: at, clientId, owner, state, backend: 'local', startedAt: state === 'queued' ? null : at, position: 0, attempts: 1 });
}

interface InterruptBody {
  detail: string;
  id: string;
  status: GenerationState;
  error?: string;
}

describe('interrupt: which generation it picks (auth off)', () => {
  let bridge: RunningBridge;
  const holder: { service?: RecordingGenerations; storage?: Storage } = {};

  beforeEach(async () => {
    bridge = await startBridge({
      plugins: { 'storage-nedb': { inMemory: true }, interrupt: {} },
      extraPlugins: [stubGenerationsPlugin(holder)],
    });
  });
  afterEach(async () => {
    await bridge.close();
  });

  const interrupt = async (query: string, body?: unknown): Promise<{ status: number; body: InterruptBody }> => {
    const response = await fetch(`${bridge.url}/interrupt${query}`, {
      method: 'POST',
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    return { status: response.status, body: (await response.json()) as InterruptBody };
  };
  const insert = (...gens: Generation[]) => Promise.all(gens.map((gen) => holder.storage!.generations.insert(gen)));

  it('answers 400 without clientId or id, and for a malformed clientId', async () => {
    const neither = await interrupt('');
    expect(neither.status).to.equal(400);
    expect(neither.body).to.deep.equal({ error: 'bad_request', detail: 'give clientId or id' });
    expect((await interrupt('?clientId=a%20b')).status).to.equal(400);
    expect((await interrupt('?id=..%2Fgen')).status).to.equal(400);
    expect((await interrupt('', { clientId: 'a', extra: 1 })).status).to.equal(400);
    expect(holder.service!.interrupted).to.deep.equal([]);
  });

  it('answers 404 for an unknown clientId or id, and for an id of another client', async () => {
    await insert(generation('gen_other', 'client-b', 'running'));
    expect((await interrupt('?clientId=nobody')).status).to.equal(404);
    const unknown = await interrupt('?id=gen_missing');
    expect(unknown.status).to.equal(404);
    expect(unknown.body.error).to.equal('not_found');
    expect((await interrupt('?id=gen_other&clientId=client-a')).status).to.equal(404);
    expect(holder.service!.interrupted).to.deep.equal([]);
  });

  it("interrupts the client's running generation, and only that one", async () => {
    await insert(generation('gen_a1', 'client-a', 'running'), generation('gen_b1', 'client-b', 'running'));
    const answer = await interrupt('?clientId=client-a');
    expect(answer.status).to.equal(200);
    expect(answer.body).to.deep.equal({ detail: 'generation gen_a1 interrupted (it was running)', id: 'gen_a1', status: 'interrupted' });
    expect(holder.service!.interrupted).to.deep.equal(['gen_a1']);
    expect((await holder.storage!.generations.get('gen_b1'))!.state).to.equal('running');
  });

  it('interrupts a queued generation named by id (query or body)', async () => {
    await insert(generation('gen_q1', 'client-a', 'queued'), generation('gen_q2', 'client-a', 'queued'));
    const byQuery = await interrupt('?id=gen_q1');
    expect(byQuery.body).to.include({ id: 'gen_q1', status: 'interrupted' });
    expect(byQuery.body.detail).to.include('it was queued');
    const byBody = await interrupt('', { id: 'gen_q2', clientId: 'client-a' });
    expect(byBody.status).to.equal(200);
    expect(byBody.body).to.include({ id: 'gen_q2', status: 'interrupted' });
    expect(holder.service!.interrupted).to.deep.equal(['gen_q1', 'gen_q2']);
  });

  it('refuses a clientId that differs between query and body', async () => {
    await insert(generation('gen_x', 'client-a', 'running'));
    const answer = await interrupt('?clientId=client-a', { clientId: 'client-b' });
    expect(answer.status).to.equal(400);
    expect(answer.body.detail).to.match(/clientId in the query and the one in the body differ/);
  });

  it('finds an older running generation when the latest one already ended', async () => {
    await insert(generation('gen_old', 'client-a', 'running'), generation('gen_new', 'client-a', 'completed'));
    const answer = await interrupt('?clientId=client-a');
    expect(answer.body).to.include({ id: 'gen_old', status: 'interrupted' });
    expect(holder.service!.interrupted).to.deep.equal(['gen_old']);
  });

  it('answers 200 with the final status when everything already ended, without cancelling anything', async () => {
    await insert(generation('gen_done', 'client-a', 'completed'), generation('gen_failed', 'client-b', 'failed'));
    const byClient = await interrupt('?clientId=client-a');
    expect(byClient.status).to.equal(200);
    expect(byClient.body).to.deep.equal({ detail: 'generation gen_done had already ended: completed', id: 'gen_done', status: 'completed' });
    const byId = await interrupt('?id=gen_failed');
    expect(byId.body).to.include({ id: 'gen_failed', status: 'failed' });
    expect(holder.service!.interrupted).to.deep.equal([]);
  });

  it('reports the real end when the generation completed while the interrupt was on its way', async () => {
    await insert(generation('gen_race', 'client-a', 'running'));
    holder.service!.endsAs = 'completed';
    const answer = await interrupt('?clientId=client-a');
    expect(answer.status).to.equal(200);
    expect(answer.body).to.include({ id: 'gen_race', status: 'completed' });
    expect(answer.body.detail).to.include('had already ended');
  });
});

describe('interrupt: with auth on', () => {
  let bridge: RunningBridge;
  const holder: { service?: RecordingGenerations; storage?: Storage } = {};
  const ids: Record<string, string> = {};

  before(async () => {
    bridge = await startBridge({
      plugins: { 'storage-nedb': { inMemory: true }, interrupt: {}, auth: { keys: `${ADMIN_KEY}:admin,${KEY_A},${KEY_B}` } },
      extraPlugins: [
        stubGenerationsPlugin(holder),
        definePlugin({
          name: 'whoami',
          register: (ctx) =>
            ctx.route({ method: 'get', path: '/whoami', summary: 'caller', handler: (http) => void (http.body = http.state.principal as Principal) }),
        }) as PluginManifest<never>,
      ],
    });
    for (const [name, key] of Object.entries({ a: KEY_A, b: KEY_B })) {
      ids[name] = ((await (await fetch(`${bridge.url}/whoami`, { headers: { 'x-api-key': key } })).json()) as Principal).id;
    }
  });
  after(async () => {
    await bridge.close();
  });

  const interrupt = async (query: string, key?: string) => {
    const response = await fetch(`${bridge.url}/interrupt${query}`, { method: 'POST', headers: key ? { authorization: `Bearer ${key}` } : {} });
    return { status: response.status, body: (await response.json()) as InterruptBody };
  };

  it('needs a key', async () => {
    expect((await interrupt('?clientId=tab-a')).status).to.equal(401);
  });

  it("answers 404 to key B for key A's generation and clientId; key A and the admin may interrupt", async () => {
    await holder.storage!.generations.insert(generation('gen_ka1', 'tab-a', 'running', ids.a));
    await holder.storage!.generations.insert(generation('gen_ka2', 'tab-a2', 'running', ids.a));
    // Interrupting binds nothing (only generating and uploading do), whoever asks.
    expect((await interrupt('?clientId=tab-a', KEY_B)).status).to.equal(404);
    expect((await interrupt('?clientId=nothing-here', KEY_B)).status).to.equal(404);
    expect((await interrupt('?clientId=tab-a', KEY_A)).status).to.equal(200);
    expect(await boundClientIds(holder.storage!.kv, ids.b)).to.deep.equal([]);
    expect(await boundClientIds(holder.storage!.kv, ids.a)).to.deep.equal([]);
    await holder.storage!.generations.update('gen_ka1', { state: 'running' });

    expect((await interrupt('?id=gen_ka1', KEY_B)).status).to.equal(404);
    expect((await interrupt('?clientId=tab-a', KEY_B)).status).to.equal(404);
    expect((await interrupt('?clientId=tab-a2', KEY_B)).status).to.equal(404);
    expect(holder.service!.interrupted).to.deep.equal(['gen_ka1']);

    const admin = await interrupt('?id=gen_ka2', ADMIN_KEY);
    expect(admin.body).to.include({ id: 'gen_ka2', status: 'interrupted' });
    const own = await interrupt('?clientId=tab-a', KEY_A);
    expect(own.body).to.include({ id: 'gen_ka1', status: 'interrupted' });
    expect(holder.service!.interrupted).to.deep.equal(['gen_ka1', 'gen_ka2', 'gen_ka1']);
  });
});
