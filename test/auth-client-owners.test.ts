import { expect } from 'chai';
import { ANONYMOUS, type Principal } from '../contracts/auth.js';
import type { KeyValueStore } from '../contracts/storage.js';
import { BridgeError } from '../core/errors.js';
import { ClientOwners } from '../plugins/auth/client-owners.js';

const alice: Principal = { id: 'alice', scopes: ['client'], anonymous: false };
const bob: Principal = { id: 'bob', scopes: ['client'], anonymous: false };
const admin: Principal = { id: 'root', scopes: ['admin'], anonymous: false };

/** A real Map behind the KeyValueStore contract, slowed down so concurrent claims overlap. */
class SlowKv implements KeyValueStore {
  readonly data = new Map<string, unknown>();
  writes = 0;
  failNext = false;

  async get<T>(key: string): Promise<T | undefined> {
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (this.failNext) {
      this.failNext = false;
      throw new Error('disk full');
    }
    return this.data.get(key) as T | undefined;
  }

  async set(key: string, value: unknown): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 5));
    this.writes += 1;
    this.data.set(key, value);
  }
}

async function statusOf(promise: Promise<void>): Promise<number> {
  try {
    await promise;
    return 200;
  } catch (error) {
    expect(error).to.be.instanceOf(BridgeError);
    return (error as BridgeError).status;
  }
}

describe('auth: clientId owners', () => {
  it('binds a clientId to the first key; another client key gets 404; admins always pass', async () => {
    const kv = new SlowKv();
    const owners = new ClientOwners(kv, 100);
    await owners.claimClient('c1', alice);
    await owners.claimClient('c1', alice);
    expect(kv.data.get('client-owner:c1')).to.equal('alice');
    expect(await statusOf(owners.claimClient('c1', bob))).to.equal(404);
    expect(await statusOf(owners.claimClient('c1', admin))).to.equal(200);
    expect(await statusOf(owners.claimClient('c1', ANONYMOUS))).to.equal(200);
    // An admin using a clientId does not take it away from client keys.
    await owners.claimClient('c2', admin);
    expect(kv.data.has('client-owner:c2')).to.equal(false);
    await owners.claimClient('c2', bob);
    expect(kv.data.get('client-owner:c2')).to.equal('bob');
  });

  it('checks a clientId for a read without binding it', async () => {
    const kv = new SlowKv();
    const owners = new ClientOwners(kv, 100);
    expect(await statusOf(owners.checkClient('fresh', bob))).to.equal(200);
    expect(kv.writes).to.equal(0);
    expect(await statusOf(owners.claimClient('fresh', alice))).to.equal(200);
    expect(await statusOf(owners.checkClient('fresh', bob))).to.equal(404);
    expect(await statusOf(owners.checkClient('fresh', alice))).to.equal(200);
    expect(await statusOf(owners.checkClient('fresh', admin))).to.equal(200);
  });

  it('lets exactly one of two racing first claims win', async () => {
    const kv = new SlowKv();
    const owners = new ClientOwners(kv, 100);
    const results = await Promise.all([statusOf(owners.claimClient('race', alice)), statusOf(owners.claimClient('race', bob))]);
    expect(results).to.deep.equal([200, 404]);
    expect(kv.writes).to.equal(1);
  });

  it('keeps bindings in storage: a fresh instance (restart) and an evicted cache entry still know the owner', async () => {
    const kv = new SlowKv();
    const small = new ClientOwners(kv, 1);
    await small.claimClient('a', alice);
    await small.claimClient('b', bob); // evicts "a" from the cache
    expect(await statusOf(small.claimClient('a', bob))).to.equal(404);
    const restarted = new ClientOwners(kv, 100);
    expect(await statusOf(restarted.claimClient('b', alice))).to.equal(404);
    expect(await statusOf(restarted.claimClient('b', bob))).to.equal(200);
  });

  it('does not remember a failed storage read', async () => {
    const kv = new SlowKv();
    const owners = new ClientOwners(kv, 100);
    kv.failNext = true;
    let failure: unknown;
    await owners.claimClient('x', alice).catch((error: unknown) => (failure = error));
    expect((failure as Error).message).to.equal('disk full');
    await owners.claimClient('x', alice);
    expect(kv.data.get('client-owner:x')).to.equal('alice');
  });

  it('refuses an anonymous non-admin caller', async () => {
    const owners = new ClientOwners(new SlowKv(), 100);
    expect(await statusOf(owners.claimClient('c', { id: 'public', scopes: [], anonymous: true }))).to.equal(401);
  });
});
