import type { Pool } from 'pg';
import type { IdempotencyRecord, IdempotencyStore } from '../../contracts/storage.js';

interface IdempotencyRow {
  scope: string;
  key: string;
  fingerprint: string;
  ref: string;
  created_at: string;
  answer: IdempotencyRecord['answer'];
}

const COLUMNS = 'scope, key, fingerprint, ref, created_at, answer';

const fromRow = (row: IdempotencyRow): IdempotencyRecord => ({
  scope: row.scope,
  key: row.key,
  fingerprint: row.fingerprint,
  ref: row.ref,
  createdAt: row.created_at,
  answer: row.answer,
});

/** A claim races only with a release or prune that deletes the row between its two statements: a few rounds settle it. */
const CLAIM_ROUNDS = 5;

export class PostgresIdempotencyStore implements IdempotencyStore {
  constructor(private readonly pool: Pool) {}

  async claim(record: IdempotencyRecord, since: string): Promise<IdempotencyRecord> {
    const r = record;
    for (let round = 0; round < CLAIM_ROUNDS; round++) {
      // One statement: the primary key makes concurrent claims (from any number of bridges) queue;
      // the row is replaced only when it is older than the window.
      const { rows } = await this.pool.query<IdempotencyRow>(
        `INSERT INTO idempotency_keys AS k (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6::jsonb)
         ON CONFLICT (scope, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, ref = EXCLUDED.ref,
           created_at = EXCLUDED.created_at, answer = EXCLUDED.answer
         WHERE k.created_at < $7
         RETURNING ${COLUMNS}`,
        [r.scope, r.key, r.fingerprint, r.ref, r.createdAt, r.answer === null ? null : JSON.stringify(r.answer), since],
      );
      if (rows[0]) return fromRow(rows[0]);
      const held = await this.get(r.scope, r.key);
      if (held) return held;
    }
    throw new Error(`could not claim idempotency key ${record.key}: it kept changing`);
  }

  async get(scope: string, key: string): Promise<IdempotencyRecord | undefined> {
    const { rows } = await this.pool.query<IdempotencyRow>(`SELECT ${COLUMNS} FROM idempotency_keys WHERE scope = $1 AND key = $2`, [scope, key]);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async complete(scope: string, key: string, ref: string, answer: { status: number; body: unknown }): Promise<void> {
    await this.pool.query('UPDATE idempotency_keys SET answer = $4::jsonb WHERE scope = $1 AND key = $2 AND ref = $3', [scope, key, ref, JSON.stringify(answer)]);
  }

  async release(scope: string, key: string, ref: string): Promise<void> {
    await this.pool.query('DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND ref = $3', [scope, key, ref]);
  }

  async prune(before: string): Promise<number> {
    const { rowCount } = await this.pool.query('DELETE FROM idempotency_keys WHERE created_at < $1', [before]);
    return rowCount ?? 0;
  }
}
