import { isAdmin, type AccessControl, type Principal } from '../../contracts/auth.js';
import { notFound, unauthorized } from '../../core/errors.js';
import type { KeyValueStore } from '../../contracts/storage.js';

const ownerKey = (clientId: string): string => `client-owner:${clientId}`;

/**
 * Binds each clientId to the first API key that uses it. Storage is the truth (bindings survive a
 * restart); the cache holds the pending or settled owner per clientId, so two first requests that
 * race for the same clientId resolve to one owner instead of both writing.
 */
export class ClientOwners implements AccessControl {
  readonly #cache = new Map<string, Promise<string>>();

  constructor(
    private readonly kv: KeyValueStore,
    private readonly cacheSize: number,
  ) {}

  async claimClient(clientId: string, principal: Principal): Promise<void> {
    if (isAdmin(principal)) return;
    if (principal.anonymous) throw unauthorized('an API key is needed to use a clientId');
    const owner = await this.#ownerOf(clientId, principal.id);
    // 404, not 403: a key must not learn which clientIds other keys use.
    if (owner !== principal.id) throw notFound(`clientId ${clientId} is not known for this API key`);
  }

  async checkClient(clientId: string, principal: Principal): Promise<void> {
    if (isAdmin(principal)) return;
    if (principal.anonymous) throw unauthorized('an API key is needed to use a clientId');
    const cached = this.#cache.get(clientId);
    const owner = cached ? await cached : await this.kv.get<string>(ownerKey(clientId));
    if (typeof owner === 'string' && owner !== principal.id) throw notFound(`clientId ${clientId} is not known for this API key`);
  }

  /** The owner of clientId, recording `claimant` as the owner if it has none yet. */
  #ownerOf(clientId: string, claimant: string): Promise<string> {
    const cached = this.#cache.get(clientId);
    if (cached) {
      // Re-insert so the Map's insertion order doubles as least-recently-used order.
      this.#cache.delete(clientId);
      this.#cache.set(clientId, cached);
      return cached;
    }
    const pending = this.#readOrClaim(clientId, claimant);
    this.#remember(clientId, pending);
    // A failed storage call must not stick: the next request tries again.
    pending.catch(() => {
      if (this.#cache.get(clientId) === pending) this.#cache.delete(clientId);
    });
    return pending;
  }

  async #readOrClaim(clientId: string, claimant: string): Promise<string> {
    const stored = await this.kv.get<string>(ownerKey(clientId));
    if (typeof stored === 'string') return stored;
    await this.kv.set(ownerKey(clientId), claimant);
    return claimant;
  }

  #remember(clientId: string, owner: Promise<string>): void {
    this.#cache.set(clientId, owner);
    while (this.#cache.size > this.cacheSize) this.#cache.delete(this.#cache.keys().next().value!);
  }
}
