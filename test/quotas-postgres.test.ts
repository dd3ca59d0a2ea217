import { expect } from 'chai';
import { ANONYMOUS } from '../contracts/auth.js';
import type { Storage } from '../contracts/storage.js';
import { KeyQuotas } from '../plugins/generate/quotas.js';
import { PostgresStorage } from '../plugins/storage-postgres/pg-storage.js';
import { generationRecord } from './helpers/generation.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';

const quietLog = { warn: () => undefined, info: () => undefined };

/**
 * maxActive of a clientId (auth off: the default quota) on a shared store: counted from the store's
 * activeCounts (its tallies), which every instance's generations move, with this process's pending
 * reservations on top. The same answers as the history pages it replaces.
 */
describe('generate quotas: maxActive of a clientId on storage-postgres', function () {
  this.timeout(30_000);
  let db: TestDatabase;
  let storage: PostgresStorage;

  beforeEach(async () => {
    db = await createTestDatabase();
    storage = await PostgresStorage.open({ url: db.url, poolSize: 2, healthIntervalMs: 0, log: quietLog });
  });

  afterEach(async () => {
    await storage.close();
    await db.drop();
  });

  const refusal = (promise: Promise<unknown>) =>
    promise.then(
      () => undefined,
      (error: { status?: number; code?: string; extra?: { limit?: string } }) => `${error.status} ${error.code} ${error.extra?.limit}`,
    );

  it('counts the queued and running generations of the client, not its finished ones nor other clients', async () => {
    const at = (s: number) => new Date(Date.UTC(2026, 11, 2, 10, 0, s)).toISOString();
    for (const [i, clientId, state] of [
      [1, 'c1', 'queued'],
      [2, 'c1', 'completed'],
      [3, 'c2', 'running'],
      [4, 'c2', 'queued'],
      [5, 'c1', 'failed'],
    ] as const) {
      await storage.generations.insert(generationRecord({ id: `gen_q${i}`, createdAt: at(i), clientId, state }));
    }
    const quotas = new KeyQuotas({ default: { maxActive: 2 }, keys: {} }, () => storage as Storage, 5);
    // c1: one active; a first reservation passes, a second (the first still pending) is refused.
    const release = await quotas.reserve(ANONYMOUS, 'c1');
    expect(await refusal(quotas.reserve(ANONYMOUS, 'c1'))).to.equal('429 quota_exceeded maxActive');
    release();
    // c2: two active already.
    expect(await refusal(quotas.reserve(ANONYMOUS, 'c2'))).to.equal('429 quota_exceeded maxActive');
    // One of c2's ends (on whatever instance): the tally moves, and c2 has room again.
    await storage.generations.update('gen_q3', { state: 'completed' });
    expect(await refusal(quotas.reserve(ANONYMOUS, 'c2'))).to.equal(undefined);
    // A client with nothing stored.
    expect(await refusal(quotas.reserve(ANONYMOUS, 'c3'))).to.equal(undefined);
  });
});
