import type pg from 'pg';
import type { Generation } from '../../contracts/generation.js';

/**
 * Bulk rows for storage-postgres, made by the server (generate_series) instead of one insert per row:
 * the way to put a million generations in a database in seconds (bench) or a few thousand (plan
 * checks). Row i (from 1) is `template` with: id gen_<i, 10 digits>, createdAt 2026-01-01 + i seconds,
 * clientId client-<i mod clients>, owner key-<i mod owners> (null for every 5th), workflow
 * image-to-image for every 3rd else text-to-image, state from STATES by i, promptId p-<i>.
 */
export const BULK_STATES = ['completed', 'completed', 'completed', 'failed', 'interrupted', 'completed'] as const;

export interface BulkOptions {
  /** First and last row number (inclusive). */
  from: number;
  to: number;
  clients?: number;
  owners?: number;
  /** The rest of every row (its id, graph and varying fields are replaced). */
  template: Generation;
}

export async function bulkInsertGenerations(client: pg.ClientBase, options: BulkOptions): Promise<void> {
  const { id: _id, graph: _graph, ...template } = options.template;
  // Triggers off while loading (this session only; needs a superuser): the tallies are rebuilt once after.
  await client.query('SET session_replication_role = replica');
  try {
    await client.query(
      `INSERT INTO generations (id, doc)
       SELECT 'gen_' || lpad(i::text, 10, '0'),
         $1::jsonb || jsonb_build_object(
           'createdAt', to_char(timestamp '2026-01-01 00:00:00' + i * interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
           'clientId', 'client-' || (i % $4),
           'owner', CASE WHEN i % 5 = 0 THEN NULL ELSE 'key-' || (i % $5) END,
           'workflow', CASE WHEN i % 3 = 0 THEN 'image-to-image' ELSE 'text-to-image' END,
           'state', ($6::text[])[i % ${BULK_STATES.length} + 1],
           'promptId', 'p-' || i)
       FROM generate_series($2::int, $3::int) AS i`,
      [JSON.stringify(template), options.from, options.to, options.clients ?? 200, options.owners ?? 10, BULK_STATES],
    );
  } finally {
    await client.query('SET session_replication_role = origin');
  }
  await rebuildTallies(client);
}

/** Recomputes every tally from the rows (as if each row had been inserted through the store once, in its current state). */
export async function rebuildTallies(client: pg.ClientBase): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query('DELETE FROM generation_tallies');
    await client.query(`
      INSERT INTO generation_tallies (kind, key, slot, n)
      SELECT t.kind, t.key, t.slot, count(*)
      FROM generations g
      CROSS JOIN LATERAL (VALUES
        ('stored', ''), ('stored_state', g.state),
        ('stored_client', g.client_id), ('stored_owner', g.owner), ('stored_workflow', g.workflow),
        ('stored_client_state', g.state || ':' || g.client_id), ('stored_owner_state', g.state || ':' || g.owner),
        ('stored_workflow_state', g.state || ':' || g.workflow)
      ) AS t0(kind, key)
      CROSS JOIN LATERAL (SELECT t0.kind, t0.key, (hashtext(g.id) & 15)::smallint AS slot) AS t
      WHERE t.key IS NOT NULL
      GROUP BY t.kind, t.key, t.slot`);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}
