import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Storage } from '../../contracts/storage.js';
import { BootError } from '../../core/errors.js';
import { requireSynchronousCommit } from '../../lib/synchronous-commit.js';
import { PostgresGenerationStore } from './generation-store.js';
import { PostgresClientBindingStore } from './client-binding-store.js';
import { PostgresIdempotencyStore } from './idempotency-store.js';
import { PostgresKeyValueStore } from './kv-store.js';
import { PostgresLeaseStore } from './lease-store.js';
import { PostgresOutboxStore } from './outbox-store.js';
import { PostgresProcessLocks } from './process-locks.js';
import { migrate, type MigrationResult } from './migrations.js';
import { PostgresUploadStore } from './upload-store.js';

export interface OpenPostgresOptions {
  url: string;
  poolSize?: number;
  statementTimeoutMs?: number;
  connectTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** 0 turns the health ping off (isOpen() then only says whether close() was called). */
  healthIntervalMs?: number;
  applicationName?: string;
  /** How long this instance's lease (on the generations it follows) lasts unless renewed (default 6 s). */
  leaseMs?: number;
  /** This process's instance id (default: a fresh random one). */
  instance?: string;
  log: Pick<Logger, 'warn' | 'info'>;
}

/** The connection string with its password hidden, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable connection string)';
  }
}

/**
 * The PostgreSQL implementation of the Storage contract. Any number of bridge processes may open
 * the same database: every change is one statement (or one transaction) on the server, nothing is
 * cached in the process. Opening applies the pending migrations; nothing is loaded into memory, so
 * opening takes as long with a million rows as with none.
 */
export class PostgresStorage implements Storage {
  readonly generations: PostgresGenerationStore;
  readonly uploads: PostgresUploadStore;
  readonly kv: PostgresKeyValueStore;
  /** Several instances share one database (contracts/storage.ts). */
  readonly shared = true;
  readonly leases: PostgresLeaseStore;
  readonly idempotency: PostgresIdempotencyStore;
  readonly clientBindings: PostgresClientBindingStore;
  readonly outbox: PostgresOutboxStore;
  /** Names held for this process's life: session advisory locks on a connection of their own (process-locks.ts). */
  readonly processLocks: PostgresProcessLocks;
  #open = true;
  #healthy = true;
  #timer: NodeJS.Timeout | undefined;
  #ping: Promise<void> | undefined;

  private constructor(
    readonly pool: pg.Pool,
    readonly migrations: MigrationResult,
    private readonly log: OpenPostgresOptions['log'],
    lease: { instance: string; ttlMs: number },
    locks: PostgresProcessLocks,
  ) {
    this.processLocks = locks;
    this.generations = new PostgresGenerationStore(pool, lease);
    this.uploads = new PostgresUploadStore(pool);
    this.kv = new PostgresKeyValueStore(pool);
    this.leases = new PostgresLeaseStore(pool, lease.instance, lease.ttlMs);
    this.idempotency = new PostgresIdempotencyStore(pool);
    this.clientBindings = new PostgresClientBindingStore(pool);
    this.outbox = new PostgresOutboxStore(pool);
  }

  static async open(options: OpenPostgresOptions): Promise<PostgresStorage> {
    const statementTimeoutMs = options.statementTimeoutMs ?? 10000;
    const connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    const lease = { instance: options.instance ?? randomUUID(), ttlMs: options.leaseMs ?? 6000 };
    if (!/^[A-Za-z0-9._:-]{1,128}$/.test(lease.instance)) throw new BootError(`instance id "${lease.instance}" must be 1-128 letters, digits, . _ : or -`);
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      statement_timeout: statementTimeoutMs,
      // Client side too: a server that stopped answering (network gone) must not hang a request.
      query_timeout: statementTimeoutMs + connectTimeoutMs,
      connectionTimeoutMillis: connectTimeoutMs,
      idleTimeoutMillis: options.idleTimeoutMs ?? 30000,
      application_name: options.applicationName ?? 'comfy-bridge',
      // Read by the lease columns' defaults (migration 2): a row is leased to the instance inserting it.
      options: `-c comfy_bridge.instance=${lease.instance} -c comfy_bridge.lease_ms=${Math.round(lease.ttlMs)}`,
    });
    // An idle pooled connection that breaks (server restart) emits here; unhandled, it would end the process.
    pool.on('error', (error) => options.log.warn({ err: error }, 'an idle PostgreSQL connection failed'));
    let migrations: MigrationResult;
    try {
      await requireSynchronousCommit(pool, 'storage');
      migrations = await migrate(pool);
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw new BootError(`cannot open PostgreSQL storage at ${redactUrl(options.url)}: ${(error as Error).message}`, { cause: error });
    }
    if (migrations.applied.length > 0) options.log.info({ versions: migrations.applied }, 'PostgreSQL schema migrated');
    if (migrations.unknown.length > 0) {
      options.log.warn({ versions: migrations.unknown }, 'the database has schema versions this release does not know (a newer release migrated it)');
    }
    const locks = new PostgresProcessLocks({
      url: options.url,
      applicationName: options.applicationName ?? 'comfy-bridge',
      connectTimeoutMs,
      statementTimeoutMs,
      onLost: (error) => options.log.warn({ err: error }, 'the PostgreSQL connection holding this process\'s names (its results log) was lost'),
    });
    const storage = new PostgresStorage(pool, migrations, options.log, lease, locks);
    try {
      await storage.leases.register();
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw new BootError(`cannot register this instance's lease in PostgreSQL at ${redactUrl(options.url)}: ${(error as Error).message}`, { cause: error });
    }
    if ((options.healthIntervalMs ?? 5000) > 0) storage.#watch(options.healthIntervalMs ?? 5000);
    return storage;
  }

  /** Open and the database answered the last ping (what /ready reports as storage). */
  isOpen(): boolean {
    return this.#open && this.#healthy;
  }

  /** Pings the database now and updates what isOpen() says. */
  async checkHealth(): Promise<boolean> {
    this.#ping ??= this.pool
      .query('SELECT 1')
      .then(
        () => this.#setHealthy(true),
        (error: unknown) => this.#setHealthy(false, error),
      )
      .finally(() => (this.#ping = undefined));
    await this.#ping;
    return this.#healthy;
  }

  async close(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    clearInterval(this.#timer);
    await this.#ping;
    // The instance's lease ends now rather than when it would have run out.
    await this.leases.retire().catch((error: unknown) => this.log.warn({ err: error }, 'could not end this instance\'s lease; it runs out on its own'));
    await this.processLocks.close();
    await this.pool.end();
  }

  #watch(intervalMs: number): void {
    this.#timer = setInterval(() => void this.checkHealth(), intervalMs);
    this.#timer.unref();
  }

  #setHealthy(healthy: boolean, error?: unknown): void {
    if (healthy !== this.#healthy && this.#open) {
      if (healthy) this.log.info('PostgreSQL answers again');
      else this.log.warn({ err: error }, 'PostgreSQL does not answer; /ready reports storage down');
    }
    this.#healthy = healthy;
  }
}
