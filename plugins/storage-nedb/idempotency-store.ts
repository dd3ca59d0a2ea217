import type { IdempotencyRecord, IdempotencyStore } from '../../contracts/storage.js';
import type { Collection } from './datastore.js';

/** The answer is kept as JSON text: bodies may hold keys nedb refuses (a "." or a leading "$"). */
type IdempotencyDoc = Omit<IdempotencyRecord, 'answer'> & { _id: string; answer: string | null };

const idOf = (scope: string, key: string): string => JSON.stringify([scope, key]);
const toDoc = (record: IdempotencyRecord): IdempotencyDoc => ({
  ...record,
  _id: idOf(record.scope, record.key),
  answer: record.answer === null ? null : JSON.stringify(record.answer),
});
function fromDoc({ _id, answer, ...rest }: IdempotencyDoc): IdempotencyRecord {
  return { ...rest, answer: answer === null ? null : (JSON.parse(answer) as IdempotencyRecord['answer']) };
}

export class NedbIdempotencyStore implements IdempotencyStore {
  /** Claims run one after another: a look-up then a write must not interleave with another claim's (one process holds the data dir). */
  #claims: Promise<unknown> = Promise.resolve();

  private constructor(private readonly collection: Collection) {}

  static async open(collection: Collection): Promise<NedbIdempotencyStore> {
    await collection.ensureIndex({ fieldName: 'createdAt' });
    return new NedbIdempotencyStore(collection);
  }

  claim(record: IdempotencyRecord, since: string): Promise<IdempotencyRecord> {
    const claimed = this.#claims.then(() => this.#claim(record, since));
    this.#claims = claimed.catch(() => undefined);
    return claimed;
  }

  async #claim(record: IdempotencyRecord, since: string): Promise<IdempotencyRecord> {
    const doc = toDoc(record);
    const existing = (await this.collection.findOne({ _id: doc._id })) as IdempotencyDoc | null;
    if (!existing) {
      await this.collection.insert(doc);
      return structuredClone(record);
    }
    if (existing.createdAt >= since) return fromDoc(existing);
    // Expired: the key starts afresh.
    await this.collection.update({ _id: doc._id }, doc, {});
    return structuredClone(record);
  }

  async get(scope: string, key: string): Promise<IdempotencyRecord | undefined> {
    const doc = (await this.collection.findOne({ _id: idOf(scope, key) })) as IdempotencyDoc | null;
    return doc ? fromDoc(doc) : undefined;
  }

  async complete(scope: string, key: string, ref: string, answer: { status: number; body: unknown }): Promise<void> {
    await this.collection.update({ _id: idOf(scope, key), ref }, { $set: { answer: JSON.stringify(answer) } }, {});
  }

  async release(scope: string, key: string, ref: string): Promise<void> {
    await this.collection.remove({ _id: idOf(scope, key), ref }, { multi: false });
  }

  async prune(before: string): Promise<number> {
    return this.collection.remove({ createdAt: { $lt: before } }, { multi: true });
  }
}
