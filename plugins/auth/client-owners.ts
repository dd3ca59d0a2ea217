import { isAdmin, type AccessControl, type Principal } from '../../contracts/auth.js';
import { notFound, tooManyRequests, unauthorized } from '../../core/errors.js';
import type { KeyValueStore } from '../../contracts/storage.js';

export interface BindingLimits {
  /** A binding expires this long after the last generation or upload that used it. */
  ttlMs: number;
  /** Most live bindings one key may hold; a new clientId past it is refused (429). */
  maxPerKey: number;
}

interface Binding {
  owner: string;
  expiresAt: number;
}

/**
 * A key's bindings are stored in this many kv entries (by a hash of the clientId), so a new binding
 * rewrites a small entry, not the key's whole list.
 */
const BUCKETS = 16;
const bucketOf = (clientId: string): number => {
  let hash = 0x811c9dc5; // FNV-1a
  for (let i = 0; i < clientId.length; i++) hash = Math.imul(hash ^ clientId.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % BUCKETS;
};
const bucketKey = (owner: string, bucket: number): string => `client-bindings:${owner}:${bucket}`;

type BindListener = (clientId: string, owner: string) => void;

const notKnown = (clientId: string) => notFound(`clientId ${clientId} is not known for this API key`);

/**
 * Binds each clientId to the API key that first generates or uploads with it (claimClient). Reads
 * and sockets only check (checkClient, mayWatch): touching a clientId never takes it, so nobody can
 * squat a guessable one by opening a socket on it. A binding expires ttlMs after its last claim, and
 * one key holds at most maxPerKey live bindings, so the table is bounded by keys × maxPerKey.
 *
 * Memory holds every live binding (loaded once from storage, per configured client key) and is the
 * truth while running; storage keeps them across restarts. Bindings of keys no longer configured are
 * not loaded: they are gone.
 */
export class ClientOwners implements AccessControl {
  readonly #bindings = new Map<string, Binding>();
  readonly #byOwner = new Map<string, Set<string>>();
  readonly #listeners = new Set<BindListener>();
  readonly #writes = new Map<string, Promise<void>>();
  #loaded: Promise<void> | undefined;

  constructor(
    private readonly kv: KeyValueStore,
    /** Ids of the keys that can hold bindings (client keys; admins never bind). */
    private readonly owners: readonly string[],
    private readonly limits: BindingLimits,
    private readonly now: () => number = Date.now,
  ) {}

  async claimClient(clientId: string, principal: Principal): Promise<void> {
    if (isAdmin(principal)) return;
    if (principal.anonymous) throw unauthorized('an API key is needed to use a clientId');
    await this.#load();
    const current = this.#live(clientId);
    // 404, not 403: a key must not learn which clientIds other keys use.
    if (current && current.owner !== principal.id) throw notKnown(clientId);
    const expiresAt = this.now() + this.limits.ttlMs;
    if (current) {
      current.expiresAt = expiresAt;
      await this.#persist(principal.id, clientId);
      return;
    }
    const mine = this.#ownedBy(principal.id);
    if (mine.size >= this.limits.maxPerKey) {
      throw tooManyRequests(
        `this API key already holds ${mine.size} clientIds (the limit); reuse one, or wait until one expires ` +
          `(${Math.round(this.limits.ttlMs / 60_000)} min after its last generation or upload)`,
        { headers: { 'Retry-After': '60' } },
      );
    }
    // Taken in memory before the first await: a racing claim by another key sees it and gets 404.
    this.#bindings.set(clientId, { owner: principal.id, expiresAt });
    mine.add(clientId);
    try {
      await this.#persist(principal.id, clientId);
    } catch (error) {
      // A binding storage does not hold must not hold in memory either; the next claim tries again.
      this.#forget(clientId);
      throw error;
    }
    for (const listener of this.#listeners) listener(clientId, principal.id);
  }

  async checkClient(clientId: string, principal: Principal): Promise<void> {
    if (isAdmin(principal)) return;
    if (principal.anonymous) throw unauthorized('an API key is needed to use a clientId');
    await this.#load();
    if (!this.mayWatch(clientId, principal)) throw notKnown(clientId);
  }

  /** Synchronous, for the moment a socket joins: false when clientId is bound to another key. */
  mayWatch(clientId: string, principal: Principal): boolean {
    if (isAdmin(principal)) return true;
    const current = this.#live(clientId);
    return current === undefined || current.owner === principal.id;
  }

  onBind(listener: BindListener): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /** How many live bindings a key holds (for tests and metrics). */
  countFor(owner: string): number {
    return this.#ownedBy(owner).size;
  }

  #live(clientId: string): Binding | undefined {
    const binding = this.#bindings.get(clientId);
    if (binding && binding.expiresAt <= this.now()) {
      this.#forget(clientId);
      return undefined;
    }
    return binding;
  }

  /** The key's live clientIds (expired ones are dropped on the way). */
  #ownedBy(owner: string): Set<string> {
    let set = this.#byOwner.get(owner);
    if (!set) {
      set = new Set();
      this.#byOwner.set(owner, set);
    }
    const now = this.now();
    for (const clientId of set) if ((this.#bindings.get(clientId)?.expiresAt ?? 0) <= now) this.#forget(clientId);
    return set;
  }

  #forget(clientId: string): void {
    const binding = this.#bindings.get(clientId);
    if (!binding) return;
    this.#bindings.delete(clientId);
    this.#byOwner.get(binding.owner)?.delete(clientId);
  }

  #load(): Promise<void> {
    this.#loaded ??= this.#readAll().catch((error: unknown) => {
      this.#loaded = undefined; // a failed read must not stick: the next request tries again
      throw error;
    });
    return this.#loaded;
  }

  async #readAll(): Promise<void> {
    const now = this.now();
    for (const owner of this.owners) {
      for (let bucket = 0; bucket < BUCKETS; bucket++) {
        const stored = await this.kv.get<Record<string, number>>(bucketKey(owner, bucket));
        for (const [clientId, expiresAt] of Object.entries(stored ?? {})) {
          if (typeof expiresAt !== 'number' || expiresAt <= now || this.#bindings.has(clientId)) continue;
          this.#bindings.set(clientId, { owner, expiresAt });
          let set = this.#byOwner.get(owner);
          if (!set) this.#byOwner.set(owner, (set = new Set()));
          set.add(clientId);
        }
      }
    }
  }

  /**
   * Writes the bucket of clientId for owner as memory holds it now (live bindings only, so expired
   * ones leave storage too). Writes of one bucket run one after another, each taking its snapshot
   * when it starts, so the last write always holds the newest state.
   */
  #persist(owner: string, clientId: string): Promise<void> {
    const bucket = bucketOf(clientId);
    const key = bucketKey(owner, bucket);
    const write = async (): Promise<void> => {
      const entries: Record<string, number> = {};
      for (const id of this.#ownedBy(owner)) if (bucketOf(id) === bucket) entries[id] = this.#bindings.get(id)!.expiresAt;
      await this.kv.set(key, entries);
    };
    const previous = this.#writes.get(key) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(write);
    this.#writes.set(key, next);
    void next.finally(() => {
      if (this.#writes.get(key) === next) this.#writes.delete(key);
    }).catch(() => undefined);
    return next;
  }
}
