import type { Pool } from 'pg';
import { GroupCommit } from './group-commit.js';

/** A row as stored: its id and its document. */
export interface StoredRow<Doc> {
  id: string;
  doc: Doc;
}

/** Statements of updates on their way at once (as inserts: a lone update never waits, concurrent ones group). */
const LANES = 2;
/** Rows in one statement at most. */
const MAX_ROWS = 100;

/**
 * The document after a patch: merged, and without the graph once the state is final (as storage-nedb
 * does). `d` is the row's current document, `p` the patch, `$3` the final states.
 */
const MERGED = (d: string, p: string) => `CASE WHEN (${d} || ${p}) ->> 'state' = ANY($3::text[]) THEN (${d} || ${p}) - 'graph' ELSE ${d} || ${p} END`;

/**
 * Group commit of generation updates (group-commit.ts): the state changes, positions and progress of
 * one instance's generations that come while two statements are on their way go together as one
 * statement (one commit, one WAL flush). Two updates of one row never share a statement nor overtake
 * each other; each caller is answered after its commit, with the row as stored (undefined: no such id).
 */
export class UpdateBatches<Doc> {
  readonly #group: GroupCommit<{ id: string; patch: string }, StoredRow<Doc> | undefined>;

  constructor(
    private readonly pool: Pool,
    private readonly finalStates: readonly string[],
  ) {
    this.#group = new GroupCommit({ statement: (rows) => this.#statement(rows), lanes: LANES, maxRows: MAX_ROWS, keyOf: (row) => row.id });
  }

  /** `patch`: a jsonb object of the fields to set. */
  update(id: string, patch: string): Promise<StoredRow<Doc> | undefined> {
    return this.#group.add({ id, patch });
  }

  async #statement(rows: { id: string; patch: string }[]): Promise<(StoredRow<Doc> | undefined)[]> {
    // Named: prepared once per connection. A single row keeps the plain statement.
    if (rows.length === 1) {
      const { rows: stored } = await this.pool.query<StoredRow<Doc>>({
        name: 'generations_update',
        text: `UPDATE generations SET doc = ${MERGED('doc', '$2::jsonb')} WHERE id = $1 RETURNING id, doc`,
        values: [rows[0]!.id, rows[0]!.patch, this.finalStates],
      });
      return [stored[0]];
    }
    // Rows locked in id order (the join runs down the sorted list): two statements that share rows
    // (this instance's updates and its lease renewals, say) never lock them in opposite orders.
    const sorted = [...rows].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const { rows: stored } = await this.pool.query<StoredRow<Doc>>({
      name: 'generations_update_many',
      text: `UPDATE generations g SET doc = ${MERGED('g.doc', 'u.patch')}
        FROM (SELECT r.id, r.patch::jsonb AS patch FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS r(id, patch, i) ORDER BY r.i) AS u
        WHERE g.id = u.id RETURNING g.id, g.doc`,
      values: [sorted.map((row) => row.id), sorted.map((row) => row.patch), this.finalStates],
    });
    const byId = new Map(stored.map((row) => [row.id, row]));
    return rows.map((row) => byId.get(row.id));
  }
}
