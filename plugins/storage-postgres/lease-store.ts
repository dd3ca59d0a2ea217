import type { Pool } from 'pg';
import type { Generation } from '../../contracts/generation.js';
import type { LeaseStore } from '../../contracts/storage.js';
import { fromRow, type Doc } from './generation-store.js';
import { GroupCommit } from './group-commit.js';

/** The generations someone must follow (the predicate of the partial index generations_owned, migration 8). */
const OWNED = `(state IN ('queued', 'running') OR end_pending)`;

/**
 * The claim's two statements (exported for the EXPLAIN checks in the tests): the owners with no live
 * lease ($1 this instance), then their rows and the unowned ones ($1 this instance, $2 the grace in
 * ms, $3 at most this many of each kind, $4 the dead owners).
 */
export const LEASE_CLAIM = {
  deadOwners: `WITH RECURSIVE owners AS (
     (SELECT lease_owner AS id FROM generations WHERE ${OWNED} AND lease_owner IS NOT NULL ORDER BY lease_owner LIMIT 1)
     UNION ALL
     SELECT (SELECT g.lease_owner FROM generations g WHERE ${OWNED} AND g.lease_owner > o.id ORDER BY g.lease_owner LIMIT 1)
     FROM owners o WHERE o.id IS NOT NULL
   ), registered AS (
     SELECT i.id FROM bridge_instances i
     WHERE i.id IN (SELECT id FROM owners) AND i.id <> $1 AND i.expires_at < now() FOR SHARE
   )
   SELECT id FROM registered
   UNION ALL
   SELECT o.id FROM owners o WHERE o.id IS NOT NULL AND o.id <> $1 AND NOT EXISTS (SELECT 1 FROM bridge_instances i WHERE i.id = o.id)`,
  claim: `WITH of_dead AS (
     SELECT id FROM generations WHERE ${OWNED} AND lease_owner = ANY ($4::text[]) AND (lease_until IS NULL OR lease_until < now())
     LIMIT $3 FOR UPDATE SKIP LOCKED
   ), unowned AS (
     SELECT id FROM generations WHERE ${OWNED} AND lease_owner IS NULL AND (lease_until IS NULL OR lease_until < now())
     LIMIT $3 FOR UPDATE SKIP LOCKED
   )
   UPDATE generations g SET lease_owner = $1, lease_until = now() + $2 * interval '1 millisecond'
   WHERE g.id IN (SELECT id FROM of_dead UNION ALL SELECT id FROM unowned)
   RETURNING g.id, g.doc`,
};

/**
 * One lease per instance (bridge_instances, migration 8) and an owner on each generation row
 * (lease_owner). A new row is owned by the instance whose connection inserts it, by column defaults
 * read from the session (the pool's connections carry this instance's id and lease length), so a
 * generation is never unowned, not even before the instance's next renewal. The instance renews its
 * one row (heartbeat): renewal costs one statement whatever the number of prompts it follows. A
 * row's own lease_until is a grace period (from its insert, its claim, or renew()): within it the
 * row is not claimed even if its instance's lease lapsed. Times are the database's clock.
 */
export class PostgresLeaseStore implements LeaseStore {
  /**
   * The renewal before an end is recorded and the clearing of end_pending once it is announced come
   * once per generation: an instance's concurrent ones go together (group-commit.ts), one statement.
   */
  readonly #renewals = new GroupCommit<string, boolean>({ statement: (ids) => this.#renew(ids), lanes: 2, maxRows: 100, keyOf: (id) => id });
  readonly #announcements = new GroupCommit<string, void>({ statement: (ids) => this.#announced(ids), lanes: 2, maxRows: 100, keyOf: (id) => id });

  constructor(
    private readonly pool: Pool,
    readonly instance: string,
    readonly ttlMs: number,
  ) {}

  /**
   * At open, before this process records anything: the instance's lease row, and the generations an
   * earlier process with the same instance id left (their owner is live again, under a new process
   * that does not follow them) handed over to whoever claims first, this process included.
   */
  async register(): Promise<void> {
    await this.#upsert();
    await this.pool.query(`UPDATE generations SET lease_owner = NULL WHERE lease_owner = $1 AND ${OWNED}`, [this.instance]);
    // Rows of instances gone for a day (no generation points at a dead instance's row once claimed).
    await this.pool.query(`DELETE FROM bridge_instances WHERE expires_at < now() - interval '1 day'`);
  }

  async heartbeat(): Promise<boolean> {
    const { lapsed, inserted } = await this.#upsert();
    return !lapsed && !inserted;
  }

  /**
   * Extends the instance's lease. lapsed: it had run out (a claimer may have taken generations in
   * between). The time is read once the row is locked: a claimer holding it (FOR SHARE) commits first,
   * and its claim is then seen as a lapse here.
   */
  async #upsert(): Promise<{ lapsed: boolean; inserted: boolean }> {
    const { rows } = await this.pool.query<{ lapsed: boolean; inserted: boolean }>({
      name: 'leases_heartbeat',
      text: `INSERT INTO bridge_instances AS i (id, expires_at) VALUES ($1, clock_timestamp() + $2 * interval '1 millisecond')
       ON CONFLICT (id) DO UPDATE SET expires_at = clock_timestamp() + $2 * interval '1 millisecond', lapsed = i.expires_at < clock_timestamp()
       RETURNING i.lapsed, (i.xmax = 0) AS inserted`,
      values: [this.instance, this.ttlMs],
    });
    return rows[0] ?? { lapsed: true, inserted: true };
  }

  async renew(ids: string[]): Promise<string[]> {
    const held = await Promise.all(ids.map((id) => this.#renewals.add(id)));
    return ids.filter((_, i) => held[i]);
  }

  async #renew(ids: string[]): Promise<boolean[]> {
    // Named (prepared once per connection): the runner renews before recording every end. Only
    // lease_until changes (no index holds it): the update is written in place.
    const { rows } = await this.pool.query<{ id: string }>({
      name: 'leases_renew',
      text: `UPDATE generations SET lease_until = now() + $3 * interval '1 millisecond'
       WHERE id = ANY($1::text[]) AND lease_owner = $2 RETURNING id`,
      // Sorted: rows are locked in id order, as the grouped updates lock them (update-batches.ts).
      values: [[...ids].sort(), this.instance, this.ttlMs],
    });
    const renewed = new Set(rows.map((row) => row.id));
    return ids.map((id) => renewed.has(id));
  }

  async claimExpired(limit: number): Promise<Generation[]> {
    // One transaction: the dead owners first, then their rows (the owners as a parameter, so both
    // searches are index ranges of generations_owned, never a scan of what live instances hold).
    const client = await this.pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      try {
        // owners: the distinct owners of the rows someone must follow, one index probe each (a loose
        // index scan: a few live instances, and the dead ones not yet claimed from). Dead: no live
        // lease. A registered one is locked FOR SHARE until this commits, so its own renewal waits for
        // the claim and then sees it lapsed (and checks what it still holds); one that renewed
        // meanwhile is re-checked and left out. This instance never claims from itself.
        const { rows: dead } = await client.query<{ id: string }>({
          name: 'leases_dead_owners',
          text: LEASE_CLAIM.deadOwners,
          values: [this.instance],
        });
        // SKIP LOCKED: instances claiming at the same moment take disjoint rows instead of queueing.
        // Rows of dead owners, and rows nobody owns (released, or recorded without an instance), once
        // their own grace ran out; finished rows whose end was never announced (end_pending,
        // migration 6) too.
        const { rows } = await client.query<{ id: string; doc: Doc }>({
          name: 'leases_claim',
          text: LEASE_CLAIM.claim,
          values: [this.instance, this.ttlMs, limit, dead.map((row) => row.id)],
        });
        await client.query('COMMIT');
        return rows.map(fromRow);
      } catch (error) {
        await client.query('ROLLBACK').catch(() => (broken = true));
        throw error;
      }
    } catch (error) {
      broken = true;
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async announced(ids: string[]): Promise<void> {
    await Promise.all(ids.map((id) => this.#announcements.add(id)));
  }

  async #announced(ids: string[]): Promise<void[]> {
    await this.pool.query({
      name: 'leases_announced',
      text: `UPDATE generations SET end_pending = false, lease_until = NULL WHERE id = ANY($1::text[]) AND lease_owner = $2 AND end_pending`,
      values: [[...ids].sort(), this.instance],
    });
    return ids.map(() => undefined);
  }

  async release(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    // No owner and no grace: claimable at once, by anyone.
    await this.pool.query(`UPDATE generations SET lease_owner = NULL, lease_until = NULL WHERE id = ANY($1::text[]) AND lease_owner = $2`, [ids, this.instance]);
  }

  /** At close: the instance's lease ends now (what it did not release is claimable once each row's grace runs out). */
  async retire(): Promise<void> {
    await this.pool.query('DELETE FROM bridge_instances WHERE id = $1', [this.instance]);
  }
}
