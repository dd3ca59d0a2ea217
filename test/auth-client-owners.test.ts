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
  failWrite = false;

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
    if (this.failWrite) {
      this.failWrite = false;
      throw new Error('disk full');
    }
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

const DAY = 24 * 60 * 60 * 1000;
const LIMITS = { ttlMs: DAY, maxPerKey: 100 };
const OWNERS = ['alice', 'bob'];

/** A clock the test moves by hand. */
function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

describe('auth: clientId owners', () => {
  it('binds a clientId to the first key that claims it; another client key gets 404; admins always pass', async () => {
    const kv = new SlowKv();
    const owners = new ClientOwners(kv, OWNERS, LIMITS);
    await owners.claimClient('c1', alice);
    await owners.claimClient('c1', alice);
    expect(await statusOf(owners.claimClient('c1', bob))).to.equal(404);
    expect(await statusOf(owners.claimClient('c1', admin))).to.equal(200);
    expect(await statusOf(owners.claimClient('c1', ANONYMOUS))).to.equal(200);
    // An admin using a clientId does not take it away from client keys.
    await owners.claimClient('c2', admin);
    expect(owners.countFor('root')).to.equal(0);
    await owners.claimClient('c2', bob);
    expect(await statusOf(owners.checkClient('c2', alice))).to.equal(404);
  });

  it('checks a clientId for a read or a socket without binding it', async () => {
    const kv = new SlowKv();
    const owners = new ClientOwners(kv, OWNERS, LIMITS);
    expect(await statusOf(owners.checkClient('fresh', bob))).to.equal(200);
    expect(owners.mayWatch('fresh', bob)).to.equal(true);
    expect(kv.writes).to.equal(0);
    expect(owners.countFor('bob')).to.equal(0);
    expect(await statusOf(owners.claimClient('fresh', alice))).to.equal(200);
    expect(await statusOf(owners.checkClient('fresh', bob))).to.equal(404);
    expect(owners.mayWatch('fresh', bob)).to.equal(false);
    expect(await statusOf(owners.checkClient('fresh', alice))).to.equal(200);
    expect(await statusOf(owners.checkClient('fresh', admin))).to.equal(200);
    expect(owners.mayWatch('fresh', admin)).to.equal(true);
  });

  it('lets exactly one of two racing first claims win, and tells listeners once', async () => {
    const kv = new SlowKv();
    const owners = new ClientOwners(kv, OWNERS, LIMITS);
    const bound: string[] = [];
    owners.onBind((clientId, owner) => bound.push(`${clientId}→${owner}`));
    const results = await Promise.all([statusOf(owners.claimClient('race', alice)), statusOf(owners.claimClient('race', bob))]);
    expect(results).to.deep.equal([200, 404]);
    expect(bound).to.deep.equal(['race→alice']);
    await owners.claimClient('race', alice); // a renewal is not a new binding
    expect(bound).to.deep.equal(['race→alice']);
  });

  it('expires a binding ttlMs after its last claim; a renewal pushes the expiry', async () => {
    const time = clock();
    const owners = new ClientOwners(new SlowKv(), OWNERS, LIMITS, time.now);
    await owners.claimClient('tab', alice);
    time.advance(DAY - 1000);
    await owners.claimClient('tab', alice); // generated again: renewed
    time.advance(DAY - 1000);
    expect(await statusOf(owners.claimClient('tab', bob))).to.equal(404);
    time.advance(2000);
    expect(owners.mayWatch('tab', bob)).to.equal(true);
    expect(owners.countFor('alice')).to.equal(0);
    expect(await statusOf(owners.claimClient('tab', bob))).to.equal(200);
  });

  it('bounds the bindings of one key (429 past maxPerKey) and frees a slot when one expires', async () => {
    const time = clock();
    const owners = new ClientOwners(new SlowKv(), OWNERS, { ttlMs: DAY, maxPerKey: 3 }, time.now);
    for (const id of ['a', 'b']) await owners.claimClient(id, alice);
    time.advance(1000);
    await owners.claimClient('c', alice);
    expect(await statusOf(owners.claimClient('d', alice))).to.equal(429);
    expect(await statusOf(owners.claimClient('a', alice))).to.equal(200); // renewing an own clientId is fine
    expect(await statusOf(owners.claimClient('d', bob))).to.equal(200); // the bound is per key
    time.advance(DAY - 500); // 'b' expires; 'a' (renewed) and 'c' are still live
    expect(await statusOf(owners.claimClient('d2', alice))).to.equal(200);
    expect(owners.countFor('alice')).to.equal(3);
  });

  it('keeps live bindings in storage across a restart, drops expired ones and those of keys no longer configured', async () => {
    const kv = new SlowKv();
    const time = clock();
    const first = new ClientOwners(kv, OWNERS, LIMITS, time.now);
    await first.claimClient('a', alice);
    await first.claimClient('b', bob);
    time.advance(DAY / 2);
    await first.claimClient('c', alice);
    time.advance(DAY / 2 + 1); // 'a' and 'b' expired, 'c' is live
    const restarted = new ClientOwners(kv, OWNERS, LIMITS, time.now);
    expect(await statusOf(restarted.claimClient('c', bob))).to.equal(404);
    expect(await statusOf(restarted.claimClient('a', bob))).to.equal(200);
    const aliceRemoved = new ClientOwners(kv, ['bob'], LIMITS, time.now);
    expect(await statusOf(aliceRemoved.claimClient('c', bob))).to.equal(200);
    // Storage holds one small entry per key and bucket, never one per clientId ever seen.
    expect([...kv.data.keys()].every((key) => /^client-bindings:(alice|bob):\d+$/.test(key))).to.equal(true);
  });

  it('does not remember a failed storage read or write', async () => {
    const kv = new SlowKv();
    const owners = new ClientOwners(kv, OWNERS, LIMITS);
    kv.failNext = true;
    let failure: unknown;
    await owners.claimClient('x', alice).catch((error: unknown) => (failure = error));
    expect((failure as Error).message).to.equal('disk full');
    await owners.claimClient('x', alice);
    expect(await statusOf(owners.checkClient('x', bob))).to.equal(404);

    kv.failWrite = true;
    let writeFailure: unknown;
    await owners.claimClient('y', alice).catch((error: unknown) => (writeFailure = error));
    expect((writeFailure as Error).message).to.equal('disk full');
    expect(owners.mayWatch('y', bob)).to.equal(true);
    expect(owners.countFor('alice')).to.equal(1);
  });

  it('refuses an anonymous non-admin caller', async () => {
    const owners = new ClientOwners(new SlowKv(), OWNERS, LIMITS);
    expect(await statusOf(owners.claimClient('c', { id: 'public', scopes: [], anonymous: true }))).to.equal(401);
  });
});
