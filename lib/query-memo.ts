/**
 * A route's validated queries, by their raw query string. Clients of a read route send the same string again and
 * again (`/workflow-info?workflow=text-to-image`), and what the kernel makes of it — parsed, numbers checked,
 * coerced and defaulted by the schema — depends on that string alone, so the work runs once per distinct string.
 * Each request gets its own copy: a handler may change the query it was given. Only flat queries (every value a
 * string, number or boolean, so a shallow copy is a whole one) of short strings are kept, at most `limit` of them
 * (the set starts over when full: a client sending ever new strings costs what it cost without this); a refused
 * query throws before it is kept, so it is checked again every time.
 */
export class QueryMemo {
  readonly #kept = new Map<string, Record<string, unknown>>();

  constructor(
    private readonly limit = 256,
    private readonly maxLength = 256,
  ) {}

  /** A copy of the query kept for `raw`, or undefined. */
  copy(raw: string): Record<string, unknown> | undefined {
    const kept = this.#kept.get(raw);
    return kept === undefined ? undefined : { ...kept };
  }

  /** Keeps a copy of `query` for `raw` when it can be, and returns `query`. */
  keep(raw: string, query: Record<string, unknown>): Record<string, unknown> {
    if (raw.length > this.maxLength || !Object.values(query).every((value) => typeof value !== 'object' && typeof value !== 'function')) return query;
    if (this.#kept.size >= this.limit) this.#kept.clear();
    this.#kept.set(raw, { ...query });
    return query;
  }
}
