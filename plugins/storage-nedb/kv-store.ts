import type { KeyValueStore } from '../../contracts/storage.js';
import type { Collection } from './datastore.js';

/** Values are stored as JSON text, so any JSON value (keys with "." or "$" included) round-trips. */
interface KvDoc {
  _id: string;
  json: string;
}

export class NedbKeyValueStore implements KeyValueStore {
  constructor(private readonly collection: Collection) {}

  async get<T = unknown>(key: string): Promise<T | undefined> {
    const doc = (await this.collection.findOne({ _id: key })) as KvDoc | null;
    return doc ? (JSON.parse(doc.json) as T) : undefined;
  }

  async set(key: string, value: unknown): Promise<void> {
    if (value === undefined) throw new TypeError(`kv value for "${key}" is undefined; store null instead`);
    const doc: KvDoc = { _id: key, json: JSON.stringify(value) };
    await this.collection.update({ _id: key }, doc, { upsert: true });
  }
}
