import type { Pool } from 'pg';
import type { Generation } from '../../contracts/generation.js';
import type { LeaseStore } from '../../contracts/storage.js';
import { fromRow, type Doc } from './generation-store.js';

/**
 * Leases on the generation rows (lease_owner, lease_until; migration 2). A new row is leased to the
 * instance whose connection inserts it, by column defaults read from the session (the pool's
 * connections carry this instance's id and lease length), so a generation is never unowned, not
 * even between its insert and the first renewal. Times are the database's clock, one for all
 * instances.
 */
export class PostgresLeaseStore implements LeaseStore {
  constructor(
    private readonly pool: Pool,
    readonly instance: string,
    readonly ttlMs: number,
  ) {}

  async renew(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    // Named (prepared once per connection): the runner renews before recording every end.
    const { rows } = await this.pool.query<{ id: string }>({
      name: 'leases_renew',
      text: `UPDATE generations SET lease_until = now() + $3 * interval '1 millisecond'
       WHERE id = ANY($1::text[]) AND lease_owner = $2 RETURNING id`,
      values: [ids, this.instance, this.ttlMs],
    });
    return rows.map((row) => row.id);
  }

  async claimExpired(limit: number): Promise<Generation[]> {
    // SKIP LOCKED: instances claiming at the same moment take disjoint rows instead of queueing;
    // the partial index generations_leases holds only unfinished rows, so this never scans history.
    // Finished rows whose end was never announced (end_pending, migration 6: their instance died
    // between the final state and its frames) are claimed too, through their own partial index.
    const { rows } = await this.pool.query<{ id: string; doc: Doc }>(
      `WITH unfinished AS (
         SELECT id FROM generations
         WHERE state IN ('queued', 'running') AND (lease_until IS NULL OR lease_until < now())
         ORDER BY lease_until NULLS FIRST LIMIT $3 FOR UPDATE SKIP LOCKED
       ), unannounced AS (
         SELECT id FROM generations
         WHERE end_pending AND (lease_until IS NULL OR lease_until < now())
         ORDER BY lease_until NULLS FIRST LIMIT $3 FOR UPDATE SKIP LOCKED
       )
       UPDATE generations g SET lease_owner = $1, lease_until = now() + $2 * interval '1 millisecond'
       WHERE g.id IN (SELECT id FROM unfinished UNION ALL SELECT id FROM unannounced)
       RETURNING g.id, g.doc`,
      [this.instance, this.ttlMs, limit],
    );
    return rows.map(fromRow);
  }

  async announced(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.pool.query(`UPDATE generations SET end_pending = false, lease_until = NULL WHERE id = ANY($1::text[]) AND lease_owner = $2 AND end_pending`, [ids, this.instance]);
  }

  async release(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.pool.query(`UPDATE generations SET lease_until = NULL WHERE id = ANY($1::text[]) AND lease_owner = $2`, [ids, this.instance]);
  }
}
