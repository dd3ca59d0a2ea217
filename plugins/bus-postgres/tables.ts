import type { Pool } from 'pg';

/** Serialises instances that create the tables at the same time (an arbitrary, fixed advisory lock key). */
const LOCK_KEY = 724_113_001;

/**
 * The bus's two tables, created when missing. bus_topics holds each topic's last seq (the row that
 * publishers of a topic bump and lock, which is what numbers and orders them); bus_messages holds the
 * messages of the replay window (read by topic and seq: the primary key is their only index). The
 * payload is `json`, not `jsonb`, so it reads back byte for byte (key order included) as it was published.
 */
export async function ensureBusTables(pool: Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
    await client.query(`
      CREATE TABLE IF NOT EXISTS bus_topics (
        topic text COLLATE "C" PRIMARY KEY,
        seq bigint NOT NULL
      );
      CREATE TABLE IF NOT EXISTS bus_messages (
        topic text COLLATE "C" NOT NULL,
        seq bigint NOT NULL,
        at bigint NOT NULL,
        payload json NOT NULL,
        PRIMARY KEY (topic, seq)
      );
      -- Up to 3c7f458 an index on at was kept for pruning, but the prune's condition (seq behind the topic's
      -- window OR at too old) joins bus_topics, so it is a sequential scan and the index was never read: every
      -- frame paid an index entry (and its WAL) for nothing. Dropped where an earlier release made it.
      DROP INDEX IF EXISTS bus_messages_at;
    `);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
