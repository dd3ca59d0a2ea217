import { GENERATION_STATES, type GenerationState } from '../../contracts/generation.js';
import type { GenerationCounts } from '../../contracts/storage.js';
import type { Collection } from './datastore.js';

const DOC_ID = 'generations';

interface CountersDoc {
  _id: string;
  total: number;
  byState: Partial<Record<GenerationState, number>>;
}

const zero = (): Record<GenerationState, number> =>
  Object.fromEntries(GENERATION_STATES.map((s) => [s, 0])) as Record<GenerationState, number>;

/**
 * Durable generation counters: total ever recorded and per state. They change on insert and on
 * every state change, never on prune, so retention does not lower /generation-count. The memory
 * copy is the truth; each change writes the whole snapshot, and nedb applies writes in call order,
 * so the last write on disk always carries the latest numbers.
 */
export class GenerationCounters {
  #total = 0;
  #byState = zero();

  private constructor(private readonly collection: Collection) {}

  /** Loads the counters; a store without them (new, or older data) starts from its rows. */
  static async open(collection: Collection, rows: Iterable<{ state: GenerationState }>): Promise<GenerationCounters> {
    const counters = new GenerationCounters(collection);
    const doc = (await collection.findOne({ _id: DOC_ID })) as CountersDoc | null;
    if (doc) {
      counters.#total = doc.total;
      for (const state of GENERATION_STATES) counters.#byState[state] = doc.byState[state] ?? 0;
      return counters;
    }
    for (const row of rows) {
      counters.#total++;
      counters.#byState[row.state]++;
    }
    await counters.#persist();
    return counters;
  }

  snapshot(): GenerationCounts {
    return { total: this.#total, byState: { ...this.#byState } };
  }

  recorded(state: GenerationState): Promise<void> {
    this.#total++;
    this.#byState[state]++;
    return this.#persist();
  }

  moved(from: GenerationState, to: GenerationState): Promise<void> {
    if (from === to) return Promise.resolve();
    this.#byState[from]--;
    this.#byState[to]++;
    return this.#persist();
  }

  /**
   * Takes back a `recorded` or `moved` whose row was refused by the disk. The snapshot is written
   * again when it can be: if that write fails too, the file keeps the refused change until the next
   * successful counters write (the counters are totals, never a reason to run anything).
   */
  revert(change: { recorded: GenerationState } | { from: GenerationState; to: GenerationState }): void {
    if ('recorded' in change) {
      this.#total--;
      this.#byState[change.recorded]--;
    } else {
      if (change.from === change.to) return;
      this.#byState[change.to]--;
      this.#byState[change.from]++;
    }
    this.#persist().catch(() => undefined);
  }

  async #persist(): Promise<void> {
    const doc: CountersDoc = { _id: DOC_ID, total: this.#total, byState: { ...this.#byState } };
    await this.collection.update({ _id: DOC_ID }, doc, { upsert: true });
  }
}
