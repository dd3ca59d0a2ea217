import { FINAL_STATES, type Generation } from '../../contracts/generation.js';
import {
  deliveryId,
  eventOfState,
  type DeliveryOutcome,
  type DeliveryState,
  type OutboxDelivery,
  type OutboxStore,
  type WebhookSubscription,
} from '../../contracts/outbox.js';
import type { Collection } from './datastore.js';

/** Subscriptions and deliveries share one datafile, told apart by `kind`. */
type SubscriptionDoc = Omit<WebhookSubscription, 'generationId'> & { _id: string; kind: 'subscription'; generationId: string; done: boolean };
/** The generation is kept as JSON text: its fields may hold keys nedb refuses (a "." or a leading "$"). */
type DeliveryDoc = Omit<OutboxDelivery, 'id' | 'generation'> & { _id: string; kind: 'delivery'; generation: string };

const subscriptionKey = (generationId: string): string => `sub:${generationId}`;

function fromDoc({ _id, kind: _kind, generation, ...rest }: DeliveryDoc): OutboxDelivery {
  return { id: _id, ...rest, generation: JSON.parse(generation) as Generation };
}

/** The generation a delivery carries: everything but the graph (the receiver never sees it, and it is the bulk of a row). */
const snapshot = (gen: Generation): string => JSON.stringify({ ...gen, graph: {} });

/**
 * The outbox for storage-nedb. One process holds the data dir, so claims are kept in memory only
 * (a restart voids them all, which is what a lease running out would do). Deliveries are derived
 * from generations' state changes (contracts/outbox.ts): the generation store calls `derive` with the
 * updated generation before its update resolves, and `open` derives again from every stored
 * generation an unfinished subscription names, which repairs a crash between the generation's line
 * and the delivery's (two datafiles). The derived id makes the second derivation a no-op.
 */
export class NedbOutboxStore implements OutboxStore {
  readonly #claims = new Map<string, { claimer: string; until: string }>();
  /** Generations whose derivation failed (a refused write): derived again before the next claim. */
  readonly #underived = new Map<string, Generation>();
  /** Writes that read then write run one after another. */
  #queue: Promise<unknown> = Promise.resolve();
  /**
   * Generations that may have an unfinished subscription (added when subscribe is called, before its write;
   * dropped once done or unsubscribed): a state change of any other generation (most have no webhook)
   * derives nothing, without a lookup in the outbox's datafile on the generation's way to `closed`.
   */
  readonly #subscribed = new Set<string>();

  private constructor(private readonly collection: Collection) {}

  static async open(collection: Collection, generation: (id: string) => Promise<Generation | undefined>): Promise<NedbOutboxStore> {
    await collection.ensureIndex({ fieldName: 'generationId' });
    await collection.ensureIndex({ fieldName: 'state', sparse: true });
    const store = new NedbOutboxStore(collection);
    const open = (await collection.find({ kind: 'subscription', done: false })) as SubscriptionDoc[];
    for (const sub of open) store.#subscribed.add(sub.generationId);
    for (const sub of open) {
      const gen = await generation(sub.generationId);
      // No request is in flight before the store opens: a subscription without its generation was left by a refused or cut one.
      if (gen) await store.derive(gen);
      else await collection.remove({ _id: sub._id }, {});
    }
    return store;
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** The delivery the generation's current state owes its subscriber, if any (written once, whatever the number of calls). */
  derive(gen: Generation): Promise<void> {
    if (!this.#subscribed.has(gen.id)) return Promise.resolve();
    return this.#serial(async () => {
      try {
        await this.#derive(gen);
        this.#underived.delete(gen.id);
      } catch (error) {
        this.#underived.set(gen.id, gen);
        throw error;
      }
    });
  }

  async #derive(gen: Generation): Promise<void> {
    const sub = (await this.collection.findOne({ _id: subscriptionKey(gen.id) })) as SubscriptionDoc | null;
    // (Left in #subscribed: a subscribe called after this derive was queued may still be writing it.)
    if (!sub || sub.done) return;
    const event = eventOfState(gen.state);
    if (event && sub.events.includes(event)) {
      const id = deliveryId(gen.id, gen.state, gen.attempts);
      if (!(await this.collection.findOne({ _id: id }))) {
        const doc: DeliveryDoc = {
          _id: id,
          kind: 'delivery',
          generationId: gen.id,
          event,
          url: sub.url,
          secretRef: sub.secretRef,
          generation: snapshot(gen),
          createdAt: gen.updatedAt,
          state: 'pending',
          attempts: 0,
          nextAttemptAt: gen.updatedAt,
          lastError: null,
          finishedAt: null,
        };
        await this.collection.insert(doc);
      }
    }
    // An ended generation changes no more: the load-time derivation need not look at it again.
    if (FINAL_STATES.has(gen.state)) {
      await this.collection.update({ _id: sub._id }, { $set: { done: true } }, {});
      this.#subscribed.delete(gen.id);
    }
  }

  subscribe(s: WebhookSubscription): Promise<void> {
    this.#subscribed.add(s.generationId);
    return this.#serial(async () => {
      const doc: SubscriptionDoc = { _id: subscriptionKey(s.generationId), kind: 'subscription', ...s, events: [...s.events], done: false };
      await this.collection.update({ _id: doc._id }, doc, { upsert: true });
    });
  }

  async unsubscribe(generationId: string): Promise<void> {
    await this.collection.remove({ _id: subscriptionKey(generationId) }, {});
    this.#subscribed.delete(generationId);
  }

  async get(id: string): Promise<OutboxDelivery | undefined> {
    const doc = (await this.collection.findOne({ _id: id, kind: 'delivery' })) as DeliveryDoc | null;
    return doc ? fromDoc(doc) : undefined;
  }

  async forGeneration(generationId: string): Promise<OutboxDelivery[]> {
    const docs = (await this.collection.find({ generationId, kind: 'delivery' }).sort({ createdAt: 1, _id: 1 })) as DeliveryDoc[];
    return docs.map(fromDoc);
  }

  claimDue(claimer: string, now: string, limit: number, leaseMs: number): Promise<OutboxDelivery[]> {
    return this.#serial(async () => {
      for (const gen of [...this.#underived.values()]) {
        await this.#derive(gen).then(() => this.#underived.delete(gen.id), () => undefined);
      }
      const due = (await this.collection.find({ kind: 'delivery', state: 'pending', nextAttemptAt: { $lte: now } }).sort({ nextAttemptAt: 1, _id: 1 })) as DeliveryDoc[];
      const until = new Date(Date.parse(now) + leaseMs).toISOString();
      const claimed: OutboxDelivery[] = [];
      for (const doc of due) {
        if (claimed.length >= limit) break;
        const held = this.#claims.get(doc._id);
        if (held && held.until > now) continue;
        this.#claims.set(doc._id, { claimer, until });
        claimed.push(fromDoc(doc));
      }
      return claimed;
    });
  }

  finish(id: string, claimer: string, outcome: DeliveryOutcome): Promise<boolean> {
    return this.#serial(async () => {
      if (this.#claims.get(id)?.claimer !== claimer) return false;
      const doc = (await this.collection.findOne({ _id: id, kind: 'delivery' })) as DeliveryDoc | null;
      if (!doc || doc.state !== 'pending') return false;
      const set: Partial<DeliveryDoc> & { state: DeliveryState } = { state: outcome.state, attempts: doc.attempts + 1 };
      if (outcome.state === 'pending') Object.assign(set, { nextAttemptAt: outcome.nextAttemptAt, lastError: outcome.error });
      else Object.assign(set, { finishedAt: outcome.at }, outcome.state === 'failed' ? { lastError: outcome.error } : {});
      await this.collection.update({ _id: id }, { $set: set }, {});
      this.#claims.delete(id);
      return true;
    });
  }

  async pendingCount(): Promise<number> {
    return this.collection.count({ kind: 'delivery', state: 'pending' });
  }

  async prune(before: string): Promise<number> {
    const removed = await this.collection.remove({ kind: 'delivery', state: { $ne: 'pending' }, finishedAt: { $lt: before } }, { multi: true });
    // A subscription whose generation still runs is not done, however old: it still owes its end.
    await this.collection.remove({ kind: 'subscription', done: true, createdAt: { $lt: before } }, { multi: true });
    return removed;
  }
}

/** What NedbStorage hands out while the datafiles load (like deferred-stores.ts). */
export class DeferredOutboxStore implements OutboxStore {
  #store: NedbOutboxStore | undefined;
  readonly #ready: Promise<NedbOutboxStore>;

  constructor(ready: Promise<NedbOutboxStore>) {
    this.#ready = ready.then((store) => (this.#store = store));
    this.#ready.catch(() => undefined);
  }

  async #get(): Promise<NedbOutboxStore> {
    return this.#store ?? this.#ready;
  }

  async subscribe(s: WebhookSubscription): Promise<void> {
    return (await this.#get()).subscribe(s);
  }
  async unsubscribe(generationId: string): Promise<void> {
    return (await this.#get()).unsubscribe(generationId);
  }
  async get(id: string): Promise<OutboxDelivery | undefined> {
    return (await this.#get()).get(id);
  }
  async forGeneration(generationId: string): Promise<OutboxDelivery[]> {
    return (await this.#get()).forGeneration(generationId);
  }
  async claimDue(claimer: string, now: string, limit: number, leaseMs: number): Promise<OutboxDelivery[]> {
    return (await this.#get()).claimDue(claimer, now, limit, leaseMs);
  }
  async finish(id: string, claimer: string, outcome: DeliveryOutcome): Promise<boolean> {
    return (await this.#get()).finish(id, claimer, outcome);
  }
  async pendingCount(): Promise<number> {
    return (await this.#get()).pendingCount();
  }
  async prune(before: string): Promise<number> {
    return (await this.#get()).prune(before);
  }
}
