import type { Pool } from 'pg';
import { GroupCommit } from './group-commit.js';

/**
 * Statements of inserts on their way at once; the inserts that come meanwhile wait and go together.
 * Two, not the pool's size: so concurrent submissions do group (one statement, one commit, one WAL
 * flush, and each tally upserted once per statement — migration 9) instead of each taking a
 * connection of its own, while a lone insert never waits for another.
 */
const LANES = 2;
/** Rows in one statement at most. */
const MAX_ROWS = 100;

/** Group commit of generation inserts (group-commit.ts): each caller is answered after its row's commit. */
export class InsertBatches {
  readonly #group: GroupCommit<{ id: string; doc: string }, void>;

  constructor(private readonly pool: Pool) {
    this.#group = new GroupCommit({ statement: (rows) => this.#statement(rows), lanes: LANES, maxRows: MAX_ROWS, keyOf: (row) => row.id });
  }

  insert(id: string, doc: string): Promise<void> {
    return this.#group.add({ id, doc });
  }

  async #statement(rows: { id: string; doc: string }[]): Promise<void[]> {
    // Named: prepared once per connection. A single row keeps the plain statement.
    if (rows.length === 1) {
      await this.pool.query({ name: 'generations_insert', text: 'INSERT INTO generations (id, doc) VALUES ($1, $2::jsonb)', values: [rows[0]!.id, rows[0]!.doc] });
    } else {
      await this.pool.query({
        name: 'generations_insert_many',
        text: 'INSERT INTO generations (id, doc) SELECT r.id, r.doc::jsonb FROM unnest($1::text[], $2::text[]) AS r(id, doc)',
        values: [rows.map((row) => row.id), rows.map((row) => row.doc)],
      });
    }
    return rows.map(() => undefined);
  }
}
