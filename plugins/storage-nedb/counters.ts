import { GENERATION_STATES, type GenerationState } from '../../contracts/generation.js';

/** The key of the line that carries the pruned counts in the generations datafile (no `_id`: nedb skips it). */
export const PRUNED_KEY = '$$pruned';

export type StateCounts = Record<GenerationState, number>;

export const zeroCounts = (): StateCounts => Object.fromEntries(GENERATION_STATES.map((s) => [s, 0])) as StateCounts;

const isState = (value: unknown): value is GenerationState => typeof value === 'string' && (GENERATION_STATES as readonly string[]).includes(value);

/**
 * The generations retention deleted, by the state they ended in. /generation-count counts every
 * generation ever recorded, so it is the rows held (counted from the in-memory index) plus these.
 *
 * Nothing is written for them on an insert or a state change: the row's own line is the count, so a
 * generation costs one line and one fdatasync per state change, and no crash can leave a row and
 * its count apart. On disk, in the generations datafile itself:
 *  - a pruned row's delete line carries the state it ended in (`{"$$deleted":true,"_id":…,"state":"completed"}`);
 *  - a `{"$$pruned":{…}}` line holds the counts of every prune before it (written by a compaction,
 *    which drops the delete lines, and once by the upgrade from the separate counters datafile).
 * Loading reads them in file order: a `$$pruned` line sets the counts, each marked delete line after
 * it adds one. Every prefix of the file (a crash cuts at a line) is a consistent count.
 */
export class PrunedCounts {
  #byState = zeroCounts();
  /** A `$$pruned` line was read (the datafile is of this layout: an old counters datafile is stale). */
  #sawLine = false;

  get sawLine(): boolean {
    return this.#sawLine;
  }

  /** Reads one line of the generations datafile at load (in file order). */
  observe(doc: Record<string, unknown>): void {
    const line = doc[PRUNED_KEY];
    if (line !== undefined && line !== null && typeof line === 'object') {
      this.#sawLine = true;
      this.#byState = zeroCounts();
      for (const state of GENERATION_STATES) {
        const n = (line as Record<string, unknown>)[state];
        if (typeof n === 'number' && Number.isFinite(n) && n > 0) this.#byState[state] = n;
      }
    } else if (doc.$$deleted === true && isState(doc.state)) {
      this.#byState[doc.state]++;
    }
  }

  add(state: GenerationState): void {
    this.#byState[state]++;
  }

  remove(state: GenerationState): void {
    this.#byState[state]--;
  }

  /** Replaces the counts (the upgrade from a counters datafile). */
  set(byState: StateCounts): void {
    this.#byState = { ...byState };
  }

  get(state: GenerationState): number {
    return this.#byState[state];
  }

  /** The `$$pruned` line (ending in "\n") holding the counts now. */
  line(): string {
    return `${JSON.stringify({ [PRUNED_KEY]: this.#byState })}\n`;
  }

  /** The line a compaction writes: none while nothing was pruned (no line reads as zero). */
  compactedLine(): string {
    return GENERATION_STATES.some((state) => this.#byState[state] !== 0) ? this.line() : '';
  }
}
