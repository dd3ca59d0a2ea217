import type { ClientBinding, ClientBindingStore } from '../../contracts/client-bindings.js';
import type { Collection } from './datastore.js';

type BindingDoc = { _id: string; owner: string; expiresAt: number };

const fromDoc = (doc: BindingDoc): ClientBinding => ({ clientId: doc._id, owner: doc.owner, expiresAt: doc.expiresAt });

/**
 * The clientBindings sub-store on nedb (one document per clientId). One process holds the data dir, so
 * claims run one after another here, which is all the atomicity the contract asks for. The auth plugin
 * reads it only on a shared store; with nedb it keeps its bindings in memory and in kv.
 */
export class NedbClientBindingStore implements ClientBindingStore {
  #claims: Promise<unknown> = Promise.resolve();

  private constructor(private readonly collection: Collection) {}

  static async open(collection: Collection): Promise<NedbClientBindingStore> {
    await collection.ensureIndex({ fieldName: 'owner' });
    await collection.ensureIndex({ fieldName: 'expiresAt' });
    return new NedbClientBindingStore(collection);
  }

  claim(binding: ClientBinding, now: number): Promise<ClientBinding> {
    const claimed = this.#claims.then(() => this.#claim(binding, now));
    this.#claims = claimed.catch(() => undefined);
    return claimed;
  }

  async #claim(binding: ClientBinding, now: number): Promise<ClientBinding> {
    const held = (await this.collection.findOne({ _id: binding.clientId })) as BindingDoc | null;
    if (held && held.owner !== binding.owner && held.expiresAt > now) return fromDoc(held);
    const expiresAt = held && held.owner === binding.owner ? Math.max(held.expiresAt, binding.expiresAt) : binding.expiresAt;
    const doc: BindingDoc = { _id: binding.clientId, owner: binding.owner, expiresAt };
    await this.collection.update({ _id: doc._id }, doc, { upsert: true });
    return fromDoc(doc);
  }

  async get(clientId: string, now: number): Promise<ClientBinding | undefined> {
    const doc = (await this.collection.findOne({ _id: clientId, expiresAt: { $gt: now } })) as BindingDoc | null;
    return doc ? fromDoc(doc) : undefined;
  }

  async countLive(owner: string, now: number): Promise<number> {
    return this.collection.count({ owner, expiresAt: { $gt: now } });
  }

  async prune(now: number): Promise<number> {
    return this.collection.remove({ expiresAt: { $lte: now } }, { multi: true });
  }
}
