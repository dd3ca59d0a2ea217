import { expect } from 'chai';
import type { AccessControl, Principal } from '../contracts/auth.js';
import { unauthorized } from '../core/errors.js';
import { definePlugin, type PluginManifest } from '../core/plugin.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { FrameReader, wsUrl } from './ws-client.js';
import { StubGenerations, stubGenerationsPlugin } from './ws-stub-generations.js';

const KEYS: Record<string, Principal> = {
  alice: { id: 'alice', scopes: ['client'], anonymous: false },
  bob: { id: 'bob', scopes: ['client'], anonymous: false },
  root: { id: 'root', scopes: ['admin', 'client'], anonymous: false },
};

/**
 * An access service the test drives: `taken` clientIds count as bound to someone else only from the
 * moment the socket joins (checkClient at the upgrade still passes: the bind landed mid-handshake),
 * and `bind()` announces a binding the way the auth plugin does.
 */
class ScriptedAccess implements AccessControl {
  readonly taken = new Set<string>();
  readonly #listeners = new Set<(clientId: string, owner: string) => void>();
  async claimClient(): Promise<void> {}
  async checkClient(): Promise<void> {}
  mayWatch(clientId: string, principal: Principal): boolean {
    return principal.scopes.includes('admin') || !this.taken.has(clientId);
  }
  onBind(listener: (clientId: string, owner: string) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }
  bind(clientId: string, owner: string): void {
    for (const listener of this.#listeners) listener(clientId, owner);
  }
}

function accessPlugin(access: ScriptedAccess): PluginManifest<never> {
  return definePlugin({
    name: 'scripted-access',
    provides: ['access'],
    register(ctx) {
      ctx.provide('access', access);
      ctx.hooks.authenticate.tapPromise('scripted-access', async (request) => {
        const principal = KEYS[String(request.headers['x-api-key'])];
        if (!principal) throw unauthorized('a key is needed');
        return principal;
      });
    },
  }) as PluginManifest<never>;
}

describe('ws: sockets on a clientId bound to another key', () => {
  let bridge: RunningBridge;
  let access: ScriptedAccess;
  const readers: FrameReader[] = [];

  beforeEach(async () => {
    access = new ScriptedAccess();
    bridge = await startBridge({ plugins: { bus: {}, ws: { heartbeatMs: 60_000 } }, extraPlugins: [stubGenerationsPlugin(new StubGenerations()), accessPlugin(access)] });
  });
  afterEach(async () => {
    for (const reader of readers.splice(0)) reader.close();
    await bridge.close();
  });

  const open = async (clientId: string, key: string): Promise<FrameReader> => {
    const reader = await FrameReader.open(wsUrl(bridge.url, `?clientId=${clientId}`), { 'x-api-key': key });
    readers.push(reader);
    return reader;
  };

  const BOUND = [
    { status: 'error', details: 'this clientId is now bound to another API key' },
    { status: 'closed', details: 'connection closed: the clientId belongs to another API key' },
  ];

  it('a socket whose clientId was bound to another key during its handshake gets error, closed, 1008', async () => {
    access.taken.add('tab-x');
    const reader = await open('tab-x', 'bob');
    expect((await reader.untilClosed()).code).to.equal(1008);
    expect(reader.frames).to.deep.equal(BOUND);
    const admin = await open('tab-x', 'root');
    expect(await admin.next()).to.deep.equal({ status: 'connected', details: 'server connected' });
  });

  it("binding a clientId cuts the other keys' sockets on it, and only those", async () => {
    const bob = await open('tab-y', 'bob');
    const alice = await open('tab-y', 'alice');
    const admin = await open('tab-y', 'root');
    const elsewhere = await open('tab-z', 'bob');
    for (const reader of [bob, alice, admin, elsewhere]) await reader.next((frame) => frame.status === 'connected');
    access.bind('tab-y', 'alice');
    expect((await bob.untilClosed()).code).to.equal(1008);
    expect(bob.meaningful().slice(1)).to.deep.equal(BOUND);
    // The owner, the admin and bob's socket on another clientId stay open and hear nothing of it.
    for (const reader of [alice, admin, elsewhere]) expect(reader.ws.readyState).to.equal(reader.ws.OPEN);
    expect([alice, admin, elsewhere].every((reader) => reader.meaningful().length === 1)).to.equal(true);
  });
});
