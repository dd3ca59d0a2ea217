import { expect } from 'chai';
import pg from 'pg';
import type { Logger } from 'pino';
import { PostgresBus } from '../plugins/bus-postgres/pg-bus.js';
import { PostgresStorage } from '../plugins/storage-postgres/pg-storage.js';
import { adminQuery, createTestDatabase, type TestDatabase } from './helpers/postgres.js';

const quietLog = { warn: () => undefined, info: () => undefined } as unknown as Logger;

/**
 * Acknowledged generations and the bus's seqs rely on each commit's WAL flush: a database whose commits do not
 * wait for it (synchronous_commit off) is refused at start, with the way to fix it, and nothing is created in it.
 */
describe('PostgreSQL storage and bus refuse asynchronous commit', function () {
  this.timeout(30_000);
  let db: TestDatabase;

  const openStorage = () => PostgresStorage.open({ url: db.url, poolSize: 2, healthIntervalMs: 0, log: quietLog });
  const openBus = () =>
    PostgresBus.open({ url: db.url, poolSize: 2, connectTimeoutMs: 5000, statementTimeoutMs: 5000, replayWindow: 100, replayWindowMs: 60_000, applicationName: 'sync-test', onListenerError: () => undefined });
  /** Tables in the test database's public schema (what an open would have created). */
  const tables = async (): Promise<number> => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      return Number((await client.query(`SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'`)).rows[0].n);
    } finally {
      await client.end();
    }
  };

  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  it('a database set to synchronous_commit = off: neither opens, and no table is made', async () => {
    await adminQuery(`ALTER DATABASE ${db.name} SET synchronous_commit = off`);
    const storage = await openStorage().then(
      () => 'opened',
      (error: Error) => error.message,
    );
    expect(storage).to.match(/synchronous_commit is off for the storage's connections/).and.to.match(/ALTER (ROLE|DATABASE)/);
    const bus = await openBus().then(
      async (opened) => {
        await opened.close();
        return 'opened';
      },
      (error: Error) => error.message,
    );
    expect(bus).to.match(/synchronous_commit is off for the bus's connections/);
    expect(await tables()).to.equal(0);
  });

  it('a stronger or local setting is kept as the operator chose, and both open', async () => {
    await adminQuery(`ALTER DATABASE ${db.name} SET synchronous_commit = local`);
    const storage = await openStorage();
    const bus = await openBus();
    try {
      expect(await tables()).to.be.greaterThan(0);
    } finally {
      await bus.close();
      await storage.close();
    }
  });
});
