import type { Pool } from 'pg';

/** A row waiting for its statement, and the caller waiting for its commit. */
interface Waiting {
  id: string;
  doc: string;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * Statements of inserts on their way at once; the inserts that come meanwhile wait and go together.
 * Two, not the pool's size: so concurrent submissions do group (one statement, one commit, one WAL
 * flush, and each tally upserted once per statement — migration 9) instead of each taking a
 * connection of its own, while a lone insert never waits for another.
 */
const LANES = 2;
/** Rows in one statement at most. */
const MAX_ROWS = 100;

/**
 * Group commit of generation inserts. A caller is answered only once the statement that holds its
 * row has committed (nothing is acknowledged before it is on disk). A statement that fails for one
 * row's sake (a duplicate id, a bad document) rolls back whole; its rows are then sent one by one, so
 * only that row's caller sees the error.
 */
export class InsertBatches {
  readonly #waiting: Waiting[] = [];
  #sending = 0;

  constructor(private readonly pool: Pool) {}

  insert(id: string, doc: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#waiting.push({ id, doc, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#sending < LANES && this.#waiting.length > 0) {
      const batch = this.#waiting.splice(0, MAX_ROWS);
      this.#sending++;
      void this.#send(batch).finally(() => {
        this.#sending--;
        this.#pump();
      });
    }
  }

  async #send(batch: Waiting[]): Promise<void> {
    try {
      await this.#statement(batch);
      for (const row of batch) row.resolve();
    } catch (error) {
      if (batch.length === 1 || !rowsFault(error)) {
        for (const row of batch) row.reject(error as Error);
        return;
      }
      // Nothing of the statement was kept: each row again on its own, its own answer.
      await Promise.all(batch.map((row) => this.#statement([row]).then(row.resolve, row.reject)));
    }
  }

  async #statement(rows: Waiting[]): Promise<void> {
    // Named: prepared once per connection. A single row keeps the plain statement.
    if (rows.length === 1) {
      await this.pool.query({ name: 'generations_insert', text: 'INSERT INTO generations (id, doc) VALUES ($1, $2::jsonb)', values: [rows[0]!.id, rows[0]!.doc] });
      return;
    }
    await this.pool.query({
      name: 'generations_insert_many',
      text: 'INSERT INTO generations (id, doc) SELECT r.id, r.doc::jsonb FROM unnest($1::text[], $2::text[]) AS r(id, doc)',
      values: [rows.map((row) => row.id), rows.map((row) => row.doc)],
    });
  }
}

/** Data errors (class 22) and constraint violations (class 23) belong to a row; anything else (a timeout, a lost connection) to the statement. */
function rowsFault(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}
