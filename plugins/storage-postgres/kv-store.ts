import type { Pool } from 'pg';
import type { KeyValueStore } from '../../contracts/storage.js';

/** Values are jsonb: any JSON value, null included, round-trips (keys with "." or "$" too). */
export class PostgresKeyValueStore implements KeyValueStore {
  constructor(private readonly pool: Pool) {}

  async get<T = unknown>(key: string): Promise<T | undefined> {
    const { rows } = await this.pool.query<{ value: T }>('SELECT value FROM kv WHERE key = $1', [key]);
    return rows[0] ? rows[0].value : undefined;
  }

  async set(key: string, value: unknown): Promise<void> {
    if (value === undefined) throw new TypeError(`kv value for "${key}" is undefined; store null instead`);
    await this.pool.query('INSERT INTO kv (key, value) VALUES ($1, $2::jsonb) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value', [
      key,
      JSON.stringify(value),
    ]);
  }
}
