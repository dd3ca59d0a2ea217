/** What the ordered indexes need to know about a generation (kept in memory for every row). */
export interface GenerationKey {
  readonly id: string;
  readonly createdAt: string;
}

/** createdAt then id, ascending. ISO timestamps of one format compare correctly as strings. */
export function compareKeys(a: GenerationKey, b: GenerationKey): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? -1 : 1;
  if (a.id === b.id) return 0;
  return a.id < b.id ? -1 : 1;
}

/**
 * Entries kept sorted oldest → newest, so the common case (a new generation) is an append and the
 * newest page is a slice from the end. Finding a position is a binary search, never a sort.
 */
export class SortedList<T extends GenerationKey> {
  #items: T[] = [];

  /** Builds the list from unordered entries with one sort (used when a store loads). */
  static from<T extends GenerationKey>(items: T[]): SortedList<T> {
    return SortedList.fromSorted(SortedList.sortedCopy(items));
  }

  /**
   * The entries oldest first, in a new array. A datafile written in creation order needs no sort (one pass
   * checks); a compacted one holds its rows in id order, random in time: sorted by the timestamps' numbers
   * first (comparing the ISO text of 100k rows was a fifth of their load), then checked with compareKeys,
   * which stays the order's definition (text that does not parse or sorts otherwise falls back to it).
   */
  static sortedCopy<T extends GenerationKey>(items: readonly T[]): T[] {
    const n = items.length;
    const inOrder = (list: readonly T[]): boolean => {
      for (let i = 1; i < n; i++) if (compareKeys(list[i - 1] as T, list[i] as T) >= 0) return false;
      return true;
    };
    if (inOrder(items)) return [...items];
    const ms = new Float64Array(n);
    for (let i = 0; i < n; i++) ms[i] = Date.parse((items[i] as T).createdAt);
    const order = Array.from({ length: n }, (_, i) => i);
    order.sort((a, b) => (ms[a] as number) - (ms[b] as number) || compareKeys(items[a] as T, items[b] as T));
    const sorted = order.map((i) => items[i] as T);
    return inOrder(sorted) ? sorted : [...items].sort(compareKeys);
  }

  /** Takes entries already in order (oldest first) as they are: the caller vouches for the order. */
  static fromSorted<T extends GenerationKey>(items: T[]): SortedList<T> {
    const list = new SortedList<T>();
    list.#items = items;
    return list;
  }

  get size(): number {
    return this.#items.length;
  }

  add(item: T): void {
    const items = this.#items;
    const last = items[items.length - 1];
    if (last === undefined || compareKeys(last, item) < 0) {
      items.push(item);
      return;
    }
    items.splice(this.#lowerBound(item), 0, item);
  }

  /** Removes the entry with the same id and createdAt; false when absent. */
  remove(item: GenerationKey): boolean {
    const at = this.#lowerBound(item);
    const found = this.#items[at];
    if (found === undefined || found.id !== item.id) return false;
    this.#items.splice(at, 1);
    return true;
  }

  /**
   * Puts `next` where `current` is (same id and createdAt, so the same place): one store, where a remove and
   * an add would each move every later entry (the global list holds every generation). Added if absent.
   */
  swap(current: GenerationKey, next: T): void {
    const at = this.#lowerBound(current);
    if (this.#items[at]?.id === current.id) this.#items[at] = next;
    else this.add(next);
  }

  newest(): T | undefined {
    return this.#items[this.#items.length - 1];
  }

  /** Newest first: skips `offset` entries and returns up to `limit`. */
  pageNewestFirst(offset: number, limit: number): T[] {
    const items = this.#items;
    const page: T[] = [];
    for (let i = items.length - 1 - offset; i >= 0 && page.length < limit; i--) page.push(items[i] as T);
    return page;
  }

  /** Newest first, every entry (for scans that filter further). */
  *newestFirst(): Generator<T> {
    for (let i = this.#items.length - 1; i >= 0; i--) yield this.#items[i] as T;
  }

  /** Oldest first, every entry. */
  *oldestFirst(): Generator<T> {
    for (const item of this.#items) yield item;
  }

  #lowerBound(key: GenerationKey): number {
    let lo = 0;
    let hi = this.#items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.#items[mid] as T, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
