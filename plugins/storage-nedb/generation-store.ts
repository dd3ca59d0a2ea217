import { FINAL_STATES, GENERATION_STATES, type Generation, type GenerationState } from '../../contracts/generation.js';
import type { Graph } from '../../contracts/graph.js';
import type { GenerationCounts, GenerationStore, GenerationWriteOptions, HistoryQuery } from '../../contracts/storage.js';
import { zeroCounts, type PrunedCounts, type StateCounts } from './counters.js';
import { appendLine, insertReportingFile, internals, lazyWrite, observeRemovals, rawDoc, type Collection } from './datastore.js';
import { GenerationIndex, summarize, type GenerationSummary } from './generation-index.js';

/**
 * How a generation is stored. The graph is kept as a JSON string: workflow graphs may carry keys
 * nedb refuses (a "." or a leading "$"), and nedb deep-copies every document it returns. It is
 * kept only while the generation may be submitted again: once final, the row drops it (it was about
 * three quarters of a row, and nedb holds every row in memory and rewrites it on every change), and
 * a final generation reads back with an empty graph.
 */
type GenerationDoc = Omit<Generation, 'id' | 'graph'> & { _id: string; graph?: string };

export const toDoc = ({ id, graph, ...rest }: Generation): GenerationDoc =>
  FINAL_STATES.has(rest.state) ? { ...rest, _id: id } : { ...rest, _id: id, graph: JSON.stringify(graph) };

function fromDoc(doc: GenerationDoc): Generation {
  const { _id, graph, ...rest } = doc;
  const gen: Generation = { id: _id, ...rest, graph: {} };
  if (graph !== undefined) lazyGraph(gen, graph);
  return gen;
}

/**
 * The graph of a returned generation is parsed when first read, not when the row is read: most
 * callers (update's, on every state change and progress tick; history pages) never look at it, and
 * it is most of a row. Still an own, enumerable `graph` (spread, JSON and deep-equal see it), a fresh
 * parse per returned object, and assignable.
 */
function lazyGraph(gen: Generation, text: string): void {
  let parsed: Graph | undefined;
  Object.defineProperty(gen, 'graph', {
    enumerable: true,
    configurable: true,
    get: () => (parsed ??= JSON.parse(text) as Graph),
    set: (value: Graph) => void (parsed = value),
  });
}

/**
 * Rows written before final rows dropped their graph: drops it in memory (on disk at the next compaction). Meant for
 * each line as the datafile is read (onLoadLine): a row's graph then dies with the line's other garbage instead of
 * being carried through the load's garbage collections, then dropped.
 */
export function dropFinalGraph(doc: Record<string, unknown>): void {
  if (doc.graph !== undefined && FINAL_STATES.has(doc.state as GenerationState)) delete doc.graph;
}

type Patch = Partial<Omit<Generation, 'id'>>;

/** The nedb modifier of a patch; reaching a final state unsets the graph. */
function toModifier(patch: Patch): Record<string, Record<string, unknown>> {
  const set: Record<string, unknown> = {};
  const final = patch.state !== undefined && FINAL_STATES.has(patch.state);
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined || key === 'id' || key === '_id') continue;
    if (key === 'graph') {
      if (!final) set.graph = JSON.stringify(value);
      continue;
    }
    set[key] = value;
  }
  return final ? { $set: set, $unset: { graph: true } } : { $set: set };
}

export class NedbGenerationStore implements GenerationStore {
  /** Told of every state change before update() resolves (the webhook outbox derives its deliveries there). */
  #onStateChange: ((gen: Generation) => Promise<void>) | undefined;

  private constructor(
    private readonly collection: Collection,
    private readonly pruned: PrunedCounts,
    private readonly index: GenerationIndex,
  ) {
    // A pruned row leaves the index and joins the pruned counts in the step nedb drops it from
    // memory, and its delete line carries its state: counts() never sees it twice or not at all.
    observeRemovals(collection, (doc) => {
      const state = doc.state as GenerationState;
      const summary = this.index.remove(doc._id as string);
      this.pruned.add(state);
      return {
        mark: { state },
        undo: () => {
          this.pruned.remove(state);
          if (summary) this.index.add(summary);
        },
      };
    });
  }

  /**
   * `pruned`: the counts read from the datafile's lines as it loaded (counters.ts). `loaded`: the rows its load put in
   * memory (FileOptions.onLoaded), read instead of walking nedb's _id tree for them; the index does not depend on their order.
   */
  static async open(collection: Collection, pruned: PrunedCounts, loaded?: Record<string, unknown>[]): Promise<NedbGenerationStore> {
    // Lookups by clientId and promptId go through GenerationIndex; nedb's own indexes on them (created
    // by earlier versions) only cost memory, load time and a re-index on every update.
    for (const field of ['promptId', 'clientId']) {
      if (internals(collection).indexes[field]) await internals(collection).removeIndexAsync(field);
    }
    // Read the rows nedb already holds in memory once, without copying them, to build our indexes.
    const rows = loaded ?? internals(collection).getAllData();
    const summaries = rows.map((row) => {
      const doc = row as unknown as GenerationDoc;
      dropFinalGraph(doc); // a datafile loaded by openCollection had it dropped as each line was read (see there)
      const { _id: id, createdAt, promptId, clientId, owner, workflow, state } = doc;
      return summarize({ id, createdAt, promptId, clientId, owner, workflow, state });
    });
    const index = new GenerationIndex();
    index.load(summaries);
    return new NedbGenerationStore(collection, pruned, index);
  }

  /**
   * The upgrade from the separate counters datafile (written by earlier versions): what it counted
   * beyond the rows held is what retention deleted. Written as one `$$pruned` line (on disk before
   * this resolves), after which that datafile is no longer read. A counters file a crash left behind
   * the rows (it was written apart from them) only ever counts fewer: never below the rows held.
   */
  async adoptCounters(counted: Partial<StateCounts>): Promise<void> {
    const byState = zeroCounts();
    for (const state of GENERATION_STATES) byState[state] = Math.max(0, (counted[state] ?? 0) - this.index.countInState(state));
    this.pruned.set(byState);
    await appendLine(this.collection, this.pruned.line());
  }

  /** The `$$pruned` line a compaction writes after the rows (taken at the same instant). */
  prunedLine(): string {
    return this.pruned.compactedLine();
  }

  get size(): number {
    return this.index.size;
  }

  observeStateChanges(listener: (gen: Generation) => Promise<void>): void {
    this.#onStateChange = listener;
  }

  async insert(gen: Generation, inFile?: () => void): Promise<void> {
    if (this.index.get(gen.id)) throw new Error(`generation ${gen.id} already exists`);
    // The row's line is also its count (counts() reads the index): one line, one fdatasync. A
    // refused insert is not in memory, not on disk, and so not counted.
    await (inFile ? insertReportingFile(this.collection, toDoc(gen), inFile) : this.collection.insert(toDoc(gen)));
    this.index.add(summarize(gen));
  }

  async update(id: string, patch: Patch): Promise<Generation | undefined> {
    return this.#apply(id, patch, true, false);
  }

  /**
   * update without the copy nobody reads: nedb deep-copies the row it returns and fromDoc copies it again
   * (on the fan-out bench, a progress tick per generation every 250 ms). A state change still reads its
   * row back, for the state-change listener. `lazy`: resolved once its line is in the datafile, which the
   * next durable write's fdatasync (or one LAZY_SYNC_MS later) puts on the disk (datafile-appender.ts).
   * `owned` is the same write: this process holds every lease of the store (the data dir lock), so the
   * condition holds for every row it has.
   */
  async write(id: string, patch: Patch, options?: GenerationWriteOptions): Promise<boolean> {
    if (!this.index.get(id)) return false;
    await this.#apply(id, patch, false, options?.lazy === true);
    return true;
  }

  async #apply(id: string, patch: Patch, returning: boolean, lazy: boolean): Promise<Generation | undefined> {
    const before = this.index.get(id);
    if (!before) return undefined;
    const modifier = toModifier(patch);
    // The index (and so the counts) changes synchronously, so concurrent updates each see the previous state.
    // A patch of none of its fields (a progress write: percent, step, position…) leaves it as it is.
    const set = modifier.$set as Partial<GenerationSummary>;
    const after = FILED.some((key) => key in set) ? summarize({ ...before, ...set }) : before;
    if (after !== before && FILED.some((key) => before[key] !== after[key])) this.index.replace(after);
    const stateChanged = before.state !== after.state;
    let doc: GenerationDoc | null;
    try {
      if (returning || stateChanged) doc = (await this.collection.update({ _id: id }, modifier, lazy ? lazyWrite({ returnUpdatedDocs: true }) : { returnUpdatedDocs: true })) as GenerationDoc | null;
      else {
        await this.collection.update({ _id: id }, modifier, lazy ? lazyWrite({}) : {});
        return undefined;
      }
    } catch (error) {
      this.#refile(id);
      throw error;
    }
    const updated = doc ? fromDoc(doc) : undefined;
    // A listener that fails keeps its own retry (outbox-store.ts): the generation's row is written either way.
    if (updated && stateChanged) await this.#onStateChange?.(updated).catch(() => undefined);
    return updated;
  }

  /**
   * After a refused update, files the generation again as its row now is in memory (the refused
   * change, and any queued behind it, were undone there), and so the counts. Concurrent
   * refusals each end in the same place, whatever order they settle in.
   */
  #refile(id: string): void {
    const filed = this.index.get(id);
    if (!filed) return;
    const row = rawDoc(this.collection, id) as GenerationDoc | undefined;
    if (!row) return; // an undo never removes a row that was written: nothing to refile
    const { createdAt, promptId, clientId, owner, workflow, state } = row;
    const truth = summarize({ id, createdAt, promptId, clientId, owner, workflow, state });
    if (!FILED.some((key) => filed[key] !== truth[key])) return;
    this.index.replace(truth);
  }

  async get(id: string): Promise<Generation | undefined> {
    if (!this.index.get(id)) return undefined;
    const doc = (await this.collection.findOne({ _id: id })) as GenerationDoc | null;
    return doc ? fromDoc(doc) : undefined;
  }

  /** Looks a generation up by the prompt_id ComfyUI knows it by. */
  async getByPromptId(promptId: string): Promise<Generation | undefined> {
    const summary = this.index.byPrompt(promptId);
    return summary ? this.get(summary.id) : undefined;
  }

  async latestForClient(clientId: string): Promise<Generation | undefined> {
    const latest = this.index.latest('clientId', clientId);
    return latest ? this.get(latest.id) : undefined;
  }

  async page(query: HistoryQuery): Promise<{ items: Generation[]; total: number }> {
    const { ids, total } = this.index.page(query);
    return { items: await this.#fetch(ids), total };
  }

  async unfinished(): Promise<Generation[]> {
    return this.#fetch([...this.index.inState('queued'), ...this.index.inState('running')].map((s) => s.id));
  }

  counts(): Promise<GenerationCounts> {
    const byState = zeroCounts();
    let total = 0;
    for (const state of GENERATION_STATES) {
      byState[state] = this.index.countInState(state) + this.pruned.get(state);
      total += byState[state];
    }
    return Promise.resolve({ total, byState });
  }

  async prune(rule: { before?: string; keep?: number }): Promise<Generation[]> {
    if (rule.before === undefined && rule.keep === undefined) return [];
    const doomed: string[] = [];
    // Oldest first: position from the newest is (size - 1 - i).
    let i = 0;
    const size = this.index.size;
    for (const s of this.index.oldestFirst()) {
      const tooOld = rule.before !== undefined && s.createdAt < rule.before;
      const beyondKeep = rule.keep !== undefined && size - 1 - i >= rule.keep;
      if (FINAL_STATES.has(s.state) && (tooOld || beyondKeep)) doomed.push(s.id);
      i++;
    }
    if (doomed.length === 0) return [];
    const deleted = await this.#fetch(doomed);
    // The index and the pruned counts follow in the removal itself (the observer above).
    await this.collection.remove({ _id: { $in: doomed } }, { multi: true });
    return deleted;
  }

  /** The rows of `ids`, in that order (the page's order, not nedb's). */
  async #fetch(ids: string[]): Promise<Generation[]> {
    if (ids.length === 0) return [];
    const docs = (await this.collection.find({ _id: { $in: ids } })) as GenerationDoc[];
    const byId = new Map(docs.map((doc) => [doc._id, doc]));
    return ids.flatMap((id) => {
      const doc = byId.get(id);
      return doc ? [fromDoc(doc)] : [];
    });
  }
}

/** Fields the indexes are keyed by: a change re-files the summary. */
const FILED: readonly (keyof GenerationSummary)[] = ['createdAt', 'promptId', 'clientId', 'owner', 'workflow', 'state'];
