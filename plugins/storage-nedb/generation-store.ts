import { FINAL_STATES, type Generation } from '../../core/contracts/generation.js';
import type { Graph } from '../../core/contracts/graph.js';
import type { GenerationCounts, GenerationStore, HistoryQuery } from '../../core/contracts/storage.js';
import type { GenerationCounters } from './counters.js';
import { internals, type Collection } from './datastore.js';
import { GenerationIndex, summarize, type GenerationSummary } from './generation-index.js';

/**
 * How a generation is stored. The graph is kept as a JSON string: workflow graphs may carry keys
 * nedb refuses (a "." or a leading "$"), and nedb deep-copies every document it returns.
 */
type GenerationDoc = Omit<Generation, 'id' | 'graph'> & { _id: string; graph: string };

const toDoc = ({ id, graph, ...rest }: Generation): GenerationDoc => ({ ...rest, _id: id, graph: JSON.stringify(graph) });

function fromDoc(doc: GenerationDoc): Generation {
  const { _id, graph, ...rest } = doc;
  return { id: _id, ...rest, graph: JSON.parse(graph) as Graph };
}

type Patch = Partial<Omit<Generation, 'id'>>;

function toSetter(patch: Patch): Record<string, unknown> {
  const set: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined || key === 'id' || key === '_id') continue;
    set[key] = key === 'graph' ? JSON.stringify(value) : value;
  }
  return set;
}

export class NedbGenerationStore implements GenerationStore {
  private constructor(
    private readonly collection: Collection,
    private readonly counters: GenerationCounters,
    private readonly index: GenerationIndex,
  ) {}

  static async open(collection: Collection, openCounters: (rows: GenerationSummary[]) => Promise<GenerationCounters>): Promise<NedbGenerationStore> {
    await collection.ensureIndex({ fieldName: 'promptId' });
    await collection.ensureIndex({ fieldName: 'clientId' });
    // Read the rows nedb already holds in memory once, without copying them, to build our indexes.
    const summaries = internals(collection)
      .getAllData()
      .map((doc) => summarize({ ...(doc as unknown as GenerationDoc), id: (doc as unknown as GenerationDoc)._id }));
    const index = new GenerationIndex();
    index.load(summaries);
    return new NedbGenerationStore(collection, await openCounters(summaries), index);
  }

  get size(): number {
    return this.index.size;
  }

  async insert(gen: Generation): Promise<void> {
    if (this.index.get(gen.id)) throw new Error(`generation ${gen.id} already exists`);
    await this.collection.insert(toDoc(gen));
    this.index.add(summarize(gen));
    await this.counters.recorded(gen.state);
  }

  async update(id: string, patch: Patch): Promise<Generation | undefined> {
    const before = this.index.get(id);
    if (!before) return undefined;
    const set = toSetter(patch);
    // Index and counters change synchronously, so concurrent updates each see the previous state.
    const after = summarize({ ...before, ...(set as Partial<GenerationSummary>) });
    const refiled = FILED.some((key) => before[key] !== after[key]);
    if (refiled) this.index.replace(after);
    const counted = this.counters.moved(before.state, after.state);
    let doc: GenerationDoc | null;
    try {
      doc = (await this.collection.update({ _id: id }, { $set: set }, { returnUpdatedDocs: true })) as GenerationDoc | null;
    } catch (error) {
      if (refiled && this.index.get(id) === after) this.index.replace(before);
      await this.counters.moved(after.state, before.state);
      throw error;
    }
    await counted;
    return doc ? fromDoc(doc) : undefined;
  }

  async get(id: string): Promise<Generation | undefined> {
    if (!this.index.get(id)) return undefined;
    const doc = (await this.collection.findOne({ _id: id })) as GenerationDoc | null;
    return doc ? fromDoc(doc) : undefined;
  }

  /** Looks a generation up by the prompt_id ComfyUI knows it by (nedb index on promptId). */
  async getByPromptId(promptId: string): Promise<Generation | undefined> {
    const doc = (await this.collection.findOne({ promptId })) as GenerationDoc | null;
    return doc ? fromDoc(doc) : undefined;
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
    return Promise.resolve(this.counters.snapshot());
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
    await this.collection.remove({ _id: { $in: doomed } }, { multi: true });
    for (const id of doomed) this.index.remove(id);
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

/** Fields the ordered indexes are keyed by. */
const FILED: readonly (keyof GenerationSummary)[] = ['createdAt', 'clientId', 'owner', 'workflow', 'state'];
