import type { Pool } from 'pg';
import { GroupCommit } from './group-commit.js';

/** A row as stored: its id, and its document when the update asked for it (`returnDoc`). */
export interface StoredRow<Doc> {
  id: string;
  doc?: Doc;
}

/**
 * One update: `patch` a jsonb object of the fields to set; `lazy` and `owned` as GenerationWriteOptions says;
 * `returnDoc`: the caller wants the row as stored back (update), not only whether it was written (write).
 */
export interface RowUpdate {
  id: string;
  patch: string;
  lazy?: boolean;
  owned?: boolean;
  returnDoc?: boolean;
}

/** This instance's lease (pg-storage.ts): what an `owned` update checks and renews. */
export interface UpdateLease {
  instance: string;
  ttlMs: number;
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
 * A lazy statement's transaction commits without waiting for its WAL flush (asynchronous commit, local to
 * that transaction): one statement, so set from within it. The WAL writer flushes it within
 * wal_writer_delay (200 ms by default); a PostgreSQL crash before then takes back this change and nothing
 * else, as a kill takes back a lazy nedb line before its sync. Any later synchronous commit (the row's
 * end, an insert) flushes the WAL up to its own record, so it carries every lazy commit before it.
 */
const ASYNC_COMMIT = `(SELECT set_config('synchronous_commit', 'off', true)) = 'off'`;

/**
 * The statement for one kind of batch. $1 id(s), $2 patch(es), $3 the final states; `owned` rows also
 * renew the lease: single, $4 instance and $5 lease ms; many, $4 which rows are owned, $5, $6 the same.
 * `withDoc`: the rows come back whole; else only their ids (the runner's writes, most of them: PostgreSQL
 * need not print the document, graph and all, nor the bridge parse it, to be thrown away).
 */
function updateSql(many: boolean, lazy: boolean, owned: boolean, withDoc: boolean): string {
  const lazyCheck = lazy ? ` AND ${ASYNC_COMMIT}` : '';
  if (!many) {
    const lease = owned ? `, lease_until = now() + $5 * interval '1 millisecond'` : '';
    const check = owned ? ' AND lease_owner = $4' : '';
    return `UPDATE generations SET doc = ${MERGED('doc', '$2::jsonb')}${lease} WHERE id = $1${check}${lazyCheck} RETURNING id${withDoc ? ', doc' : ''}`;
  }
  // Rows locked in id order (the join runs down the sorted list): two statements that share rows
  // (this instance's updates and its lease renewals, say) never lock them in opposite orders.
  const lease = owned ? `, lease_until = CASE WHEN u.owned THEN now() + $6 * interval '1 millisecond' ELSE g.lease_until END` : '';
  const check = owned ? ' AND (NOT u.owned OR g.lease_owner = $5)' : '';
  const input = owned
    ? `SELECT r.id, r.patch::jsonb AS patch, r.owned FROM unnest($1::text[], $2::text[], $4::boolean[]) WITH ORDINALITY AS r(id, patch, owned, i) ORDER BY r.i`
    : `SELECT r.id, r.patch::jsonb AS patch FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS r(id, patch, i) ORDER BY r.i`;
  return `UPDATE generations g SET doc = ${MERGED('g.doc', 'u.patch')}${lease}
        FROM (${input}) AS u
        WHERE g.id = u.id${check}${lazyCheck} RETURNING g.id${withDoc ? ', g.doc' : ''}`;
}

/**
 * Group commit of generation updates (group-commit.ts): the state changes, positions and progress of
 * one instance's generations that come while two statements are on their way go together as one
 * statement (one commit, one WAL flush), lazy ones as a statement of their own beside it (committed
 * without waiting for the flush). Two updates of one row never share a statement nor overtake each
 * other; each caller is answered after its commit, with the row as stored (undefined: no such id, or an
 * `owned` update of a row another instance holds).
 */
export class UpdateBatches<Doc> {
  readonly #group: GroupCommit<RowUpdate, StoredRow<Doc> | undefined>;

  constructor(
    private readonly pool: Pool,
    private readonly finalStates: readonly string[],
    private readonly lease: UpdateLease,
  ) {
    this.#group = new GroupCommit({ statement: (rows) => this.#split(rows), lanes: LANES, maxRows: MAX_ROWS, keyOf: (row) => row.id });
  }

  update(update: RowUpdate): Promise<StoredRow<Doc> | undefined> {
    return this.#group.add(update);
  }

  /** Lazy and durable rows of one batch as two statements at once (distinct rows: the batch holds each id once). */
  async #split(rows: RowUpdate[]): Promise<(StoredRow<Doc> | undefined)[]> {
    const lazy = rows.filter((row) => row.lazy === true);
    if (lazy.length === 0 || lazy.length === rows.length) return this.#statement(rows, lazy.length > 0);
    const durable = rows.filter((row) => row.lazy !== true);
    const [fromLazy, fromDurable] = await Promise.all([this.#statement(lazy, true), this.#statement(durable, false)]);
    const byId = new Map<string, StoredRow<Doc> | undefined>();
    lazy.forEach((row, i) => byId.set(row.id, fromLazy[i]));
    durable.forEach((row, i) => byId.set(row.id, fromDurable[i]));
    return rows.map((row) => byId.get(row.id));
  }

  async #statement(rows: RowUpdate[], lazy: boolean): Promise<(StoredRow<Doc> | undefined)[]> {
    const owned = rows.some((row) => row.owned === true);
    const withDoc = rows.some((row) => row.returnDoc === true);
    const { instance, ttlMs } = this.lease;
    // Named: prepared once per connection. A single row keeps the plain statement.
    const name = `generations_update${rows.length === 1 ? '' : '_many'}${lazy ? '_lazy' : ''}${owned ? '_owned' : ''}${withDoc ? '' : '_ids'}`;
    if (rows.length === 1) {
      const row = rows[0]!;
      const { rows: stored } = await this.pool.query<StoredRow<Doc>>({
        name,
        text: updateSql(false, lazy, owned, withDoc),
        values: owned ? [row.id, row.patch, this.finalStates, instance, ttlMs] : [row.id, row.patch, this.finalStates],
      });
      return [stored[0]];
    }
    const sorted = [...rows].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const values: unknown[] = [sorted.map((row) => row.id), sorted.map((row) => row.patch), this.finalStates];
    if (owned) values.push(sorted.map((row) => row.owned === true), instance, ttlMs);
    const { rows: stored } = await this.pool.query<StoredRow<Doc>>({ name, text: updateSql(true, lazy, owned, withDoc), values });
    const byId = new Map(stored.map((row) => [row.id, row]));
    return rows.map((row) => byId.get(row.id));
  }
}
