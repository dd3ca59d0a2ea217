import type { Generation, GenerationState } from '../../contracts/generation.js';
import type { HistoryQuery } from '../../contracts/storage.js';
import { SortedList, type GenerationKey } from './sorted-list.js';

/** The few fields that history filters on (and the prompt id); one small frozen object per generation. */
export interface GenerationSummary extends GenerationKey {
  readonly promptId: string;
  readonly clientId: string;
  readonly owner: string | null;
  readonly workflow: string;
  readonly state: GenerationState;
}

export const summarize = (gen: Pick<Generation, keyof GenerationSummary>): GenerationSummary =>
  Object.freeze({
    id: gen.id,
    createdAt: gen.createdAt,
    promptId: gen.promptId,
    clientId: gen.clientId,
    owner: gen.owner,
    workflow: gen.workflow,
    state: gen.state,
  });

type Filter = 'clientId' | 'owner' | 'workflow' | 'state';
const FILTERS: readonly Filter[] = ['clientId', 'owner', 'workflow', 'state'];
/**
 * Grouped at the first lookup, not at load: nothing on a start asks for them (only history pages filtered by them,
 * and a client's latest generation). A clientId is often one browser session's, so 100k rows can make ~100k groups,
 * a list and a map entry each (a third of the index's load time and memory to promote). State is grouped at load:
 * the counts and the unfinished generations are read as the store opens.
 */
const LAZY: ReadonlySet<Filter> = new Set(['clientId', 'owner', 'workflow']);

/**
 * Ordered in-memory indexes over every generation: one global list plus one list per clientId,
 * owner, workflow and state, all newest-last. nedb itself would sort every matching document on
 * each query; here a page is a slice of the smallest matching list, and only that page's rows are
 * fetched from nedb.
 */
export class GenerationIndex {
  readonly #byId = new Map<string, GenerationSummary>();
  /**
   * By the prompt id ComfyUI knows it by (nedb's own index on it cost load time and a re-index per update).
   * Built at the first lookup, not at load: nothing on a start looks a generation up by prompt id.
   */
  #byPrompt: Map<string, GenerationSummary> | null = null;
  #all = new SortedList<GenerationSummary>();
  /** A lazy filter's groups are null until their first lookup (LAZY). */
  readonly #groups: Record<Filter, Map<string, SortedList<GenerationSummary>> | null> = {
    clientId: null,
    owner: null,
    workflow: null,
    state: new Map(),
  };

  /**
   * Replaces the content with `summaries`: one sort for all of them, then every group taken from the sorted list in
   * one pass, in order (a sort per group cost a fifth of a 100k-row start).
   */
  load(summaries: GenerationSummary[]): void {
    this.#byId.clear();
    this.#byPrompt = null;
    for (const s of summaries) this.#byId.set(s.id, s);
    const sorted = SortedList.sortedCopy(summaries);
    this.#all = SortedList.fromSorted(sorted);
    for (const filter of LAZY) this.#groups[filter] = null;
    this.#group(FILTERS.filter((filter) => !LAZY.has(filter)), sorted);
  }

  /** Groups `sorted` (oldest first) by each of `filters` in one pass, replacing their lists. */
  #group(filters: readonly Filter[], sorted: Iterable<GenerationSummary>): void {
    const groups = filters.map(() => new Map<string, GenerationSummary[]>());
    for (const s of sorted) {
      for (let i = 0; i < filters.length; i++) {
        const key = s[filters[i] as Filter];
        if (key === null) continue;
        const byKey = groups[i] as Map<string, GenerationSummary[]>;
        const group = byKey.get(key);
        if (group) group.push(s);
        else byKey.set(key, [s]);
      }
    }
    filters.forEach((filter, i) => {
      const lists = new Map<string, SortedList<GenerationSummary>>();
      for (const [key, group] of groups[i] as Map<string, GenerationSummary[]>) lists.set(key, SortedList.fromSorted(group));
      this.#groups[filter] = lists;
    });
  }

  /** One filter's lists by key, grouped now when the filter is lazy and not yet grouped. */
  #lists(filter: Filter): Map<string, SortedList<GenerationSummary>> {
    const lists = this.#groups[filter];
    if (lists !== null) return lists;
    this.#group([filter], this.#all.oldestFirst());
    return this.#groups[filter] as Map<string, SortedList<GenerationSummary>>;
  }

  get size(): number {
    return this.#byId.size;
  }

  get(id: string): GenerationSummary | undefined {
    return this.#byId.get(id);
  }

  /** The generation submitted with this prompt id. */
  byPrompt(promptId: string): GenerationSummary | undefined {
    if (this.#byPrompt === null) {
      // Oldest first: of two generations with one prompt id (never made by the bridge), the newest is found.
      this.#byPrompt = new Map();
      for (const s of this.#all.oldestFirst()) this.#byPrompt.set(s.promptId, s);
    }
    return this.#byPrompt.get(promptId);
  }

  add(summary: GenerationSummary): void {
    this.#byId.set(summary.id, summary);
    this.#byPrompt?.set(summary.promptId, summary);
    this.#all.add(summary);
    for (const filter of FILTERS) {
      const key = summary[filter];
      const lists = this.#groups[filter];
      if (key === null || lists === null) continue; // a lazy filter not grouped yet will find it in #all
      let list = lists.get(key);
      if (!list) lists.set(key, (list = new SortedList()));
      list.add(summary);
    }
  }

  remove(id: string): GenerationSummary | undefined {
    const summary = this.#byId.get(id);
    if (!summary) return undefined;
    this.#byId.delete(id);
    if (this.#byPrompt?.get(summary.promptId) === summary) this.#byPrompt.delete(summary.promptId);
    this.#all.remove(summary);
    for (const filter of FILTERS) {
      const key = summary[filter];
      const lists = this.#groups[filter];
      if (key === null || lists === null) continue;
      const list = lists.get(key);
      if (!list) continue;
      list.remove(summary);
      // Drop empty groups so one-off clientIds do not accumulate forever.
      if (list.size === 0) lists.delete(key);
    }
    return summary;
  }

  /**
   * Re-files a generation whose indexed fields changed. Its place in a list is by createdAt and id: when
   * those stay (a state change), it takes its old entry's place in the lists whose key it keeps, and moves
   * only between the lists of a key that changed.
   */
  replace(summary: GenerationSummary): void {
    const old = this.#byId.get(summary.id);
    if (!old || old.createdAt !== summary.createdAt) {
      this.remove(summary.id);
      this.add(summary);
      return;
    }
    this.#byId.set(summary.id, summary);
    if (this.#byPrompt) {
      if (this.#byPrompt.get(old.promptId) === old) this.#byPrompt.delete(old.promptId);
      this.#byPrompt.set(summary.promptId, summary);
    }
    this.#all.swap(old, summary);
    for (const filter of FILTERS) {
      const lists = this.#groups[filter];
      if (lists === null) continue;
      const was = old[filter];
      const now = summary[filter];
      const from = was === null ? undefined : lists.get(was);
      if (was === now) {
        if (from) from.swap(old, summary);
      } else if (from) {
        from.remove(old);
        if (from.size === 0) lists.delete(was as string);
      }
      if (now === null || (was === now && from)) continue;
      let to = lists.get(now);
      if (!to) lists.set(now, (to = new SortedList()));
      to.add(summary);
    }
  }

  latest(filter: Filter, key: string): GenerationSummary | undefined {
    return this.#lists(filter).get(key)?.newest();
  }

  /** How many generations are in `state`. */
  countInState(state: GenerationState): number {
    return this.#lists('state').get(state)?.size ?? 0;
  }

  /** Every generation in `state`, newest first. */
  inState(state: GenerationState): GenerationSummary[] {
    return [...(this.#lists('state').get(state)?.newestFirst() ?? [])];
  }

  /** Oldest first, every generation. */
  oldestFirst(): Iterable<GenerationSummary> {
    return this.#all.oldestFirst();
  }

  /** The ids of one history page, newest first, and how many rows match in all. */
  page(query: HistoryQuery): { ids: string[]; total: number } {
    const wanted = FILTERS.filter((f) => query[f] !== undefined).map((f) => [f, query[f] as string] as const);
    if (wanted.length === 0) {
      return { ids: this.#all.pageNewestFirst(query.offset, query.limit).map((s) => s.id), total: this.#all.size };
    }
    // Walk the smallest list that satisfies one filter and test the others on each summary.
    let smallest: SortedList<GenerationSummary> | undefined;
    for (const [filter, key] of wanted) {
      const list = this.#lists(filter).get(key);
      if (!list) return { ids: [], total: 0 };
      if (!smallest || list.size < smallest.size) smallest = list;
    }
    const base = smallest as SortedList<GenerationSummary>;
    if (wanted.length === 1) {
      return { ids: base.pageNewestFirst(query.offset, query.limit).map((s) => s.id), total: base.size };
    }
    const ids: string[] = [];
    let total = 0;
    for (const s of base.newestFirst()) {
      if (!wanted.every(([filter, key]) => s[filter] === key)) continue;
      if (total >= query.offset && ids.length < query.limit) ids.push(s.id);
      total++;
    }
    return { ids, total };
  }
}
