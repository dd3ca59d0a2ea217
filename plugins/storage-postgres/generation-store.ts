import type { Pool } from 'pg';
import { FINAL_STATES, GENERATION_STATES, type Generation, type GenerationState } from '../../contracts/generation.js';
import type { GenerationCounts, GenerationStore, GenerationWriteOptions, HistoryQuery } from '../../contracts/storage.js';
import { InsertBatches } from './insert-batches.js';
import { UpdateBatches, type UpdateLease } from './update-batches.js';

type Patch = Partial<Omit<Generation, 'id'>>;
export type Doc = Omit<Generation, 'id' | 'graph'> & { graph?: Generation['graph'] };

const FINAL = [...FINAL_STATES];

/** What is stored in `doc`: everything but the id, and no graph once final (as storage-nedb does). */
function toDoc({ id: _id, graph, ...rest }: Generation): Doc {
  return FINAL_STATES.has(rest.state) ? rest : { ...rest, graph };
}

export function fromRow(row: { id: string; doc: Doc }): Generation {
  const { graph, ...rest } = row.doc;
  return { id: row.id, ...rest, graph: graph ?? {} };
}

/** The patch as a jsonb object: undefined values are "not set" (JSON.stringify drops them), the id never changes. */
function patchJson(patch: Patch): string {
  const { id: _id, ...rest } = patch as Patch & { id?: unknown };
  return JSON.stringify(rest);
}

/** History filters → their generated column (each has an index ending in created_at, id). */
const FILTER_COLUMNS = { clientId: 'client_id', owner: 'owner', workflow: 'workflow', state: 'state' } as const;
/** The tally kind that counts rows present now with one filter's value. */
const FILTER_TALLIES = { clientId: 'stored_client', owner: 'stored_owner', workflow: 'stored_workflow', state: 'stored_state' } as const;
type Filter = keyof typeof FILTER_COLUMNS;
const FILTERS = Object.keys(FILTER_COLUMNS) as Filter[];

/** Rows deleted per statement by prune, so one retention pass never holds thousands of row locks at once. */
const PRUNE_BATCH = 500;

/**
 * The statements every submission or state change sends are named (prepared once per connection):
 * the server parses and plans them once instead of every time. History pages are not: their best
 * plan depends on the filter's value.
 */
export class PostgresGenerationStore implements GenerationStore {
  readonly #inserts: InsertBatches;
  readonly #updates: UpdateBatches<Doc>;

  /** `lease`: this instance's, which a write with `owned` checks and renews. */
  constructor(
    private readonly pool: Pool,
    lease: UpdateLease,
  ) {
    this.#inserts = new InsertBatches(pool);
    this.#updates = new UpdateBatches(pool, FINAL, lease);
  }

  /** Resolves once the row is committed; concurrent inserts share a statement and a commit (insert-batches.ts). */
  async insert(gen: Generation): Promise<void> {
    await this.#inserts.insert(gen.id, JSON.stringify(toDoc(gen)));
  }

  async update(id: string, patch: Patch): Promise<Generation | undefined> {
    // Concurrent updates share a statement and a commit (update-batches.ts); a final state drops the graph in the same write.
    const row = await this.#updates.update({ id, patch: patchJson(patch), returnDoc: true });
    return row?.doc ? fromRow({ id: row.id, doc: row.doc }) : undefined;
  }

  /**
   * update for a caller that needs no row back (the runner). It goes through the same group commit, so
   * a row's writes keep their order whichever method made them, and concurrent ones share a commit.
   * `lazy` commits asynchronously (update-batches.ts), never for a final state whoever asks; `owned` adds
   * the lease's check and renewal to the same statement.
   */
  async write(id: string, patch: Patch, options?: GenerationWriteOptions): Promise<boolean> {
    const lazy = options?.lazy === true && (patch.state === undefined || !FINAL_STATES.has(patch.state));
    return (await this.#updates.update({ id, patch: patchJson(patch), lazy, owned: options?.owned === true })) !== undefined;
  }

  async get(id: string): Promise<Generation | undefined> {
    const { rows } = await this.pool.query<{ id: string; doc: Doc }>('SELECT id, doc FROM generations WHERE id = $1', [id]);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async getByPromptId(promptId: string): Promise<Generation | undefined> {
    const { rows } = await this.pool.query<{ id: string; doc: Doc }>(
      'SELECT id, doc FROM generations WHERE prompt_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1',
      [promptId],
    );
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async latestForClient(clientId: string): Promise<Generation | undefined> {
    const { rows } = await this.pool.query<{ id: string; doc: Doc }>(
      'SELECT id, doc FROM generations WHERE client_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1',
      [clientId],
    );
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async page(query: HistoryQuery): Promise<{ items: Generation[]; total: number }> {
    // One statement (one round trip, one connection) for the page and its total: the 429 caps ask
    // for pages on every submission.
    const { page } = historyStatements(query);
    const { rows } = await this.pool.query<{ id: string | null; doc: Doc | null; n: string | null }>(page.text, page.values);
    const items = rows.filter((row): row is { id: string; doc: Doc; n: string | null } => row.id !== null).map(fromRow);
    return { items: items.sort(newestFirst), total: Number(rows[0]?.n ?? 0) };
  }

  async unfinished(): Promise<Generation[]> {
    const { rows } = await this.pool.query<{ id: string; doc: Doc }>(
      `SELECT id, doc FROM generations WHERE state IN ('queued', 'running') ORDER BY created_at DESC, id DESC`,
    );
    return rows.map(fromRow);
  }

  async counts(): Promise<GenerationCounts> {
    const { rows } = await this.pool.query<{ kind: string; key: string; n: string }>({
      name: 'generations_counts',
      // Ever recorded = stored now + deleted by retention (migration 9: only deletes touch the latter).
      text: `SELECT kind, key, sum(n) AS n FROM generation_tallies WHERE kind IN ('stored', 'stored_state', 'pruned', 'pruned_state') GROUP BY kind, key`,
    });
    const byState = Object.fromEntries(GENERATION_STATES.map((s) => [s, 0])) as Record<GenerationState, number>;
    let total = 0;
    for (const row of rows) {
      if (row.kind === 'stored' || row.kind === 'pruned') total += Number(row.n);
      else if (row.key in byState) byState[row.key as GenerationState] += Number(row.n);
    }
    return { total, byState };
  }

  async activeCounts(clientId: string): Promise<{ client: number; all: number }> {
    // One statement from the tallies (at most 64 rows by primary key), never from the rows.
    const { rows } = await this.pool.query<{ client: string; all: string }>({
      name: 'generations_active_counts',
      text: `SELECT coalesce(sum(n) FILTER (WHERE kind = 'stored_client_state'), 0) AS client,
              coalesce(sum(n) FILTER (WHERE kind = 'stored_state'), 0) AS all
       FROM generation_tallies
       WHERE (kind = 'stored_client_state' AND key IN ('queued:' || $1, 'running:' || $1)) OR (kind = 'stored_state' AND key IN ('queued', 'running'))`,
      values: [clientId],
    });
    return { client: Number(rows[0]?.client ?? 0), all: Number(rows[0]?.all ?? 0) };
  }

  async prune(rule: { before?: string; keep?: number }): Promise<Generation[]> {
    if (rule.before === undefined && rule.keep === undefined) return [];
    // Rows beyond the newest `keep` are those at or below the keep-th row's (created_at, id).
    let boundary: { created_at: string; id: string } | undefined;
    if (rule.keep !== undefined) {
      const { rows } = await this.pool.query<{ created_at: string; id: string }>(
        'SELECT created_at, id FROM generations ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1',
        [rule.keep],
      );
      boundary = rows[0];
    }
    const conditions: string[] = [];
    const values: unknown[] = [FINAL];
    if (rule.before !== undefined) {
      values.push(rule.before);
      conditions.push(`created_at < $${values.length}`);
    }
    if (boundary) {
      values.push(boundary.created_at, boundary.id);
      conditions.push(`(created_at, id) <= ($${values.length - 1}, $${values.length})`);
    }
    if (conditions.length === 0) return [];
    values.push(PRUNE_BATCH);
    const sql = `DELETE FROM generations WHERE id IN (
        SELECT id FROM generations WHERE state = ANY($1::text[]) AND (${conditions.join(' OR ')})
        ORDER BY created_at, id LIMIT $${values.length} FOR UPDATE SKIP LOCKED
      ) RETURNING id, doc`;
    const deleted: Generation[] = [];
    for (;;) {
      const { rows } = await this.pool.query<{ id: string; doc: Doc }>(sql, values);
      deleted.push(...rows.map(fromRow));
      if (rows.length < PRUNE_BATCH) break;
    }
    return deleted.sort((a, b) => newestFirst(b, a));
  }
}

export interface Statement {
  text: string;
  values: unknown[];
}

/**
 * The two statements of a history page (exported for the EXPLAIN checks in the tests and the bench),
 * and `page`, both in one: the total's one row joined to the page's rows (one row with a null id
 * when the page is empty), which is what page() sends.
 * Items: the index of a filter (or the global one) read backwards. Total: a tally (at most 16 rows
 * by primary key) for no filter, one filter, or the status with one other; otherwise (say clientId
 * and workflow) an index-only count over the range of the most selective filter's index (the planner
 * picks it), never over the table.
 */
export function historyStatements(query: HistoryQuery): { items: Statement; total: Statement; page: Statement } {
  const wanted = FILTERS.filter((f) => query[f] !== undefined);
  const values: unknown[] = wanted.map((f) => query[f]);
  const where = wanted.length ? `WHERE ${wanted.map((f, i) => `${FILTER_COLUMNS[f]} = $${i + 1}`).join(' AND ')}` : '';
  // The page's ids first, from the index alone (skipping `offset` entries costs no table reads),
  // then only those rows; page() puts them back in page order.
  const items = {
    text: `SELECT g.id, g.doc FROM generations g JOIN (
        SELECT id FROM generations ${where} ORDER BY created_at DESC, id DESC LIMIT $${values.length + 1} OFFSET $${values.length + 2}
      ) AS page USING (id)`,
    values: [...values, query.limit, query.offset],
  };
  const both = (totalText: string, more: unknown[] = []): Statement => ({
    text: `SELECT rows.id, rows.doc, total.n FROM (${totalText}) AS total LEFT JOIN (${items.text}) AS rows ON true`,
    values: [...items.values, ...more],
  });
  const tally = (kind: string, key: string) => {
    const sql = (k: number) => `SELECT sum(n) AS n FROM generation_tallies WHERE kind = $${k} AND key = $${k + 1}`;
    return { items, total: { text: sql(1), values: [kind, key] }, page: both(sql(items.values.length + 1), [kind, key]) };
  };
  const [first, second] = wanted;
  if (first === undefined) return tally('stored', '');
  if (second === undefined) return tally(FILTER_TALLIES[first], String(query[first]));
  const other = wanted.find((f) => f !== 'state');
  if (wanted.length === 2 && wanted.includes('state') && other !== undefined) {
    return tally(`${FILTER_TALLIES[other]}_state`, `${String(query.state)}:${String(query[other])}`);
  }
  // The count's parameters are the filters, $1…: the page's first ones.
  const count = `SELECT count(*) AS n FROM generations ${where}`;
  return { items, total: { text: count, values }, page: both(count) };
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** History order: createdAt, then id, descending (as the indexes order them: ASCII ids and ISO times). */
const newestFirst = (a: Generation, b: Generation): number => (a.createdAt === b.createdAt ? cmp(b.id, a.id) : cmp(b.createdAt, a.createdAt));
