import { createHash } from 'node:crypto';
import pg from 'pg';
import type { HeldName, ProcessLocks } from '../../contracts/storage.js';

export interface ProcessLockOptions {
  url: string;
  applicationName: string;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  /** Told once when the connection that holds the names is lost. */
  onLost: (error: unknown) => void;
}

/** A name as a session advisory lock's key: 64 bits of its SHA-256 (the bridge's own namespace in front). */
export function lockKeyOf(name: string): string {
  return createHash('sha256').update(`comfy-bridge/${name}`).digest().readBigInt64BE(0).toString();
}

/**
 * Names held for the process's life as PostgreSQL session advisory locks, on one connection of their own kept open
 * for as long as the process (not the pool's: a pooled connection is closed when idle). PostgreSQL drops a session's
 * locks the moment its connection ends, which a SIGKILLed process's does at once (the kernel closes its socket):
 * a name a live process holds cannot be taken, a dead one's can. The connection is opened at the first hold; when it
 * is lost every name held on it is lost with it (each HeldName's `lost` resolves), and later calls open another.
 */
export class PostgresProcessLocks implements ProcessLocks {
  #client: Promise<pg.Client> | undefined;
  /** Resolves when the current connection ends (and its resolver). */
  #lostPromise: Promise<void> | undefined;
  #lost: (() => void) | undefined;
  #closed = false;

  constructor(private readonly options: ProcessLockOptions) {}

  async hold(name: string): Promise<HeldName> {
    const held = await this.tryTake(name);
    if (!held) throw new Error(`the name ${name} is held by another process`);
    return held;
  }

  async tryTake(name: string): Promise<HeldName | undefined> {
    const { client, lost } = await this.#connection();
    const key = lockKeyOf(name);
    const { rows } = await client.query<{ taken: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS taken', [key]);
    if (!rows[0]?.taken) return undefined;
    let held = true;
    void lost.then(() => (held = false));
    return {
      lost,
      isHeld: () => held,
      release: async () => {
        if (!held) return;
        held = false;
        await client.query('SELECT pg_advisory_unlock($1::bigint)', [key]).catch(() => undefined);
      },
    };
  }

  /** The lock connection, opened when there is none; `lost` resolves when it ends. */
  async #connection(): Promise<{ client: pg.Client; lost: Promise<void> }> {
    if (this.#closed) throw new Error('the storage is closed');
    let lost = this.#lostPromise;
    if (!this.#client) {
      const { url, applicationName, connectTimeoutMs, statementTimeoutMs } = this.options;
      const client = new pg.Client({
        connectionString: url,
        application_name: `${applicationName}/locks`,
        connectionTimeoutMillis: connectTimeoutMs,
        statement_timeout: statementTimeoutMs,
        query_timeout: statementTimeoutMs + connectTimeoutMs,
        // A dead peer (network gone) noticed by TCP too, not only at the next query.
        keepAlive: true,
      });
      lost = this.#lostPromise = new Promise<void>((resolve) => (this.#lost = resolve));
      const end = (error: unknown): void => {
        if (this.#client !== connecting) return;
        this.#client = undefined;
        this.#lost?.();
        if (!this.#closed) this.options.onLost(error);
      };
      client.on('error', end);
      client.on('end', () => end(new Error('the connection ended')));
      const connecting = client.connect().then(() => client);
      this.#client = connecting;
      connecting.catch((error: unknown) => end(error));
    }
    return { client: await this.#client!, lost: lost! };
  }

  /** Ends the connection: PostgreSQL releases every name it held. */
  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    this.#lost?.();
    if (client) await (await client.catch(() => undefined))?.end().catch(() => undefined);
  }
}
