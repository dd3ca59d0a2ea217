import type { Pool } from 'pg';
import type { Generation } from '../../contracts/generation.js';
import type { DeliveryOutcome, DeliveryState, OutboxDelivery, OutboxStore, WebhookEvent, WebhookSubscription } from '../../contracts/outbox.js';

interface DeliveryRow {
  id: string;
  generation_id: string;
  event: WebhookEvent;
  url: string;
  secret_ref: string;
  generation: Generation;
  created_at: string;
  state: DeliveryState;
  attempts: number;
  next_attempt_at: string;
  last_error: string | null;
  finished_at: string | null;
}

const COLUMNS = 'id, generation_id, event, url, secret_ref, generation, created_at, state, attempts, next_attempt_at, last_error, finished_at';

const fromRow = (row: DeliveryRow): OutboxDelivery => ({
  id: row.id,
  generationId: row.generation_id,
  event: row.event,
  url: row.url,
  secretRef: row.secret_ref,
  generation: row.generation,
  createdAt: row.created_at,
  state: row.state,
  attempts: row.attempts,
  nextAttemptAt: row.next_attempt_at,
  lastError: row.last_error,
  finishedAt: row.finished_at,
});

/**
 * The outbox in PostgreSQL. Deliveries are inserted by the trigger of migration 5 in the transaction
 * of the generation's state change, never here. Any number of bridges claim from the same table:
 * FOR UPDATE SKIP LOCKED hands each due row to one claimer, and the claim (claimed_by,
 * claimed_until) keeps it from the others while that claimer sends it; a claimer that dies lets the
 * claim run out and another one sends it again (at-least-once).
 */
export class PostgresOutboxStore implements OutboxStore {
  constructor(private readonly pool: Pool) {}

  async subscribe(s: WebhookSubscription): Promise<void> {
    await this.pool.query(
      `INSERT INTO webhook_subscriptions (generation_id, url, events, secret_ref, created_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (generation_id) DO UPDATE SET url = EXCLUDED.url, events = EXCLUDED.events, secret_ref = EXCLUDED.secret_ref, created_at = EXCLUDED.created_at`,
      [s.generationId, s.url, s.events, s.secretRef, s.createdAt],
    );
  }

  async unsubscribe(generationId: string): Promise<void> {
    await this.pool.query('DELETE FROM webhook_subscriptions WHERE generation_id = $1', [generationId]);
  }

  async get(id: string): Promise<OutboxDelivery | undefined> {
    const { rows } = await this.pool.query<DeliveryRow>(`SELECT ${COLUMNS} FROM webhook_outbox WHERE id = $1`, [id]);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async forGeneration(generationId: string): Promise<OutboxDelivery[]> {
    const { rows } = await this.pool.query<DeliveryRow>(`SELECT ${COLUMNS} FROM webhook_outbox WHERE generation_id = $1 ORDER BY created_at, id`, [generationId]);
    return rows.map(fromRow);
  }

  async claimDue(claimer: string, now: string, limit: number, leaseMs: number): Promise<OutboxDelivery[]> {
    const until = new Date(Date.parse(now) + leaseMs).toISOString();
    const { rows } = await this.pool.query<DeliveryRow>(
      `UPDATE webhook_outbox SET claimed_by = $1, claimed_until = $3
       WHERE id IN (
         SELECT id FROM webhook_outbox
         WHERE state = 'pending' AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until <= $2)
         ORDER BY next_attempt_at, id LIMIT $4
         FOR UPDATE SKIP LOCKED)
       RETURNING ${COLUMNS}`,
      [claimer, now, until, limit],
    );
    return rows.map(fromRow).sort((a, b) => (a.nextAttemptAt < b.nextAttemptAt ? -1 : a.nextAttemptAt > b.nextAttemptAt ? 1 : a.id < b.id ? -1 : 1));
  }

  async finish(id: string, claimer: string, outcome: DeliveryOutcome): Promise<boolean> {
    const pending = outcome.state === 'pending';
    const { rowCount } = await this.pool.query(
      `UPDATE webhook_outbox SET state = $3, attempts = attempts + 1, claimed_by = NULL, claimed_until = NULL,
         next_attempt_at = coalesce($4, next_attempt_at), last_error = coalesce($5, last_error), finished_at = $6
       WHERE id = $1 AND claimed_by = $2 AND state = 'pending'`,
      [id, claimer, outcome.state, pending ? outcome.nextAttemptAt : null, outcome.state === 'delivered' ? null : outcome.error, pending ? null : outcome.at],
    );
    return (rowCount ?? 0) > 0;
  }

  async pendingCount(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>("SELECT count(*) AS n FROM webhook_outbox WHERE state = 'pending'");
    return Number(rows[0]?.n ?? 0);
  }

  async prune(before: string): Promise<number> {
    const { rowCount } = await this.pool.query("DELETE FROM webhook_outbox WHERE state <> 'pending' AND finished_at < $1", [before]);
    // A subscription of a generation still queued or running is kept, however old: it still owes its end.
    await this.pool.query(
      `DELETE FROM webhook_subscriptions s WHERE s.created_at < $1
       AND NOT EXISTS (SELECT 1 FROM generations g WHERE g.id = s.generation_id AND g.state IN ('queued', 'running'))`,
      [before],
    );
    return rowCount ?? 0;
  }
}
