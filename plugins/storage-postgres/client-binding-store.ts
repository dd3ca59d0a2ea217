import type { Pool } from 'pg';
import type { ClientBinding, ClientBindingStore } from '../../contracts/client-bindings.js';

interface BindingRow {
  client_id: string;
  owner: string;
  expires_at: string;
}

const fromRow = (row: BindingRow): ClientBinding => ({ clientId: row.client_id, owner: row.owner, expiresAt: Number(row.expires_at) });

/** A claim races only with a prune that deletes the row between its two statements: a few rounds settle it. */
const CLAIM_ROUNDS = 5;

export class PostgresClientBindingStore implements ClientBindingStore {
  constructor(private readonly pool: Pool) {}

  async claim(binding: ClientBinding, now: number): Promise<ClientBinding> {
    for (let round = 0; round < CLAIM_ROUNDS; round++) {
      // One statement: the primary key makes concurrent claims (from any number of instances) queue,
      // and the row changes only for its own owner (renewal, never shorter) or once it expired.
      const { rows } = await this.pool.query<BindingRow>(
        `INSERT INTO client_bindings AS b (client_id, owner, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (client_id) DO UPDATE SET owner = EXCLUDED.owner,
           expires_at = CASE WHEN b.owner = EXCLUDED.owner THEN GREATEST(b.expires_at, EXCLUDED.expires_at) ELSE EXCLUDED.expires_at END
         WHERE b.owner = EXCLUDED.owner OR b.expires_at <= $4
         RETURNING client_id, owner, expires_at`,
        [binding.clientId, binding.owner, binding.expiresAt, now],
      );
      if (rows[0]) return fromRow(rows[0]);
      const held = await this.get(binding.clientId, now);
      if (held) return held;
    }
    throw new Error(`could not bind clientId ${binding.clientId}: its binding kept changing`);
  }

  async get(clientId: string, now: number): Promise<ClientBinding | undefined> {
    const { rows } = await this.pool.query<BindingRow>('SELECT client_id, owner, expires_at FROM client_bindings WHERE client_id = $1 AND expires_at > $2', [clientId, now]);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async countLive(owner: string, now: number): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>('SELECT count(*) AS n FROM client_bindings WHERE owner = $1 AND expires_at > $2', [owner, now]);
    return Number(rows[0]!.n);
  }

  async prune(now: number): Promise<number> {
    const { rowCount } = await this.pool.query('DELETE FROM client_bindings WHERE expires_at <= $1', [now]);
    return rowCount ?? 0;
  }
}
