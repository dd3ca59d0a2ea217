import { randomUUID } from 'node:crypto';
import { isAdmin, type AccessControl, type Principal } from '../../contracts/auth.js';
import type { Bus } from '../../contracts/bus.js';
import type { ClientBinding, ClientBindingStore } from '../../contracts/client-bindings.js';
import { notFound, tooManyRequests, unauthorized } from '../../core/errors.js';
import type { BindingLimits } from './client-owners.js';

/** The bus topic on which instances announce new bindings (so sockets elsewhere that squat the clientId are closed). */
export const BINDINGS_TOPIC = 'auth:bindings';
/** Most bindings remembered per process; past it the memory starts afresh (it is only a shortcut). */
const CACHE_LIMIT = 50_000;

type BindListener = (clientId: string, owner: string) => void;
interface BindNotice {
  clientId: string;
  owner: string;
  expiresAt: number;
  /** The process that made it (it told its own listeners already). */
  from: string;
}

const notKnown = (clientId: string) => notFound(`clientId ${clientId} is not known for this API key`);

/**
 * clientId ↔ key bindings on a store several instances share (storage.shared): the store is the truth, so a
 * binding made through instance A holds on a running B at once, and two keys racing for one clientId through
 * two instances get one winner (the store's claim is atomic). Same rules as ClientOwners otherwise.
 *
 * Memory keeps the bindings this process has seen, each only until it expires: a binding cannot change owner
 * before then (only its owner may renew it, which only extends it), so a remembered binding is never wrong.
 * "Not bound" is never remembered: another instance may bind the clientId at any moment.
 * New bindings are announced on the bus, so a socket another key opened on any instance is closed.
 */
export class SharedClientOwners implements AccessControl {
  readonly #known = new Map<string, ClientBinding>();
  readonly #listeners = new Set<BindListener>();
  readonly #process = randomUUID();
  #unsubscribe: (() => void) | undefined;

  constructor(
    private readonly store: ClientBindingStore,
    private readonly limits: BindingLimits,
    private readonly bus: Bus | undefined,
    private readonly onPublishError: (error: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.#unsubscribe = bus?.subscribe<BindNotice>(BINDINGS_TOPIC, ({ payload }) => {
      this.#remember(payload);
      if (payload.from !== this.#process) this.#tell(payload.clientId, payload.owner);
    });
  }

  /** The clientId's live binding, if any; refused when another key holds it. */
  async #heldBy(clientId: string, principal: Principal, now: number): Promise<ClientBinding | undefined> {
    if (principal.anonymous) throw unauthorized('an API key is needed to use a clientId');
    const held = this.#live(clientId, now) ?? (await this.store.get(clientId, now));
    if (held) this.#remember(held);
    // 404, not 403: a key must not learn which clientIds other keys use.
    if (held && held.owner !== principal.id) throw notKnown(clientId);
    return held ?? undefined;
  }

  async claimClient(clientId: string, principal: Principal): Promise<void> {
    if (isAdmin(principal)) return;
    const now = this.now();
    const held = await this.#heldBy(clientId, principal, now);
    if (!held) {
      const count = await this.store.countLive(principal.id, now);
      if (count >= this.limits.maxPerKey) {
        throw tooManyRequests(
          `this API key already holds ${count} clientIds (the limit); reuse one, or wait until one expires ` +
            `(${Math.round(this.limits.ttlMs / 60_000)} min after its last generation or upload)`,
          { headers: { 'Retry-After': '60' } },
        );
      }
    }
    const result = await this.store.claim({ clientId, owner: principal.id, expiresAt: now + this.limits.ttlMs }, now);
    this.#remember(result);
    if (result.owner !== principal.id) throw notKnown(clientId);
    if (held) return;
    this.#tell(clientId, principal.id);
    try {
      await this.bus?.publish<BindNotice>(BINDINGS_TOPIC, { ...result, from: this.#process });
    } catch (error) {
      // The binding holds (the store has it); only sockets elsewhere that squat it stay open a while.
      this.onPublishError(error);
    }
  }

  async checkClient(clientId: string, principal: Principal): Promise<void> {
    if (!isAdmin(principal)) await this.#heldBy(clientId, principal, this.now());
  }

  /** Synchronous, as a socket joins: from what checkClient (run in the handshake) or the bus told this process. */
  mayWatch(clientId: string, principal: Principal): boolean {
    if (isAdmin(principal)) return true;
    const held = this.#live(clientId, this.now());
    return held === undefined || held.owner === principal.id;
  }

  onBind(listener: BindListener): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /** Deletes ended bindings from the store (any instance may; it is idempotent). */
  prune(): Promise<number> {
    return this.store.prune(this.now());
  }

  close(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  #live(clientId: string, now: number): ClientBinding | undefined {
    const known = this.#known.get(clientId);
    if (known && known.expiresAt <= now) {
      this.#known.delete(clientId);
      return undefined;
    }
    return known;
  }

  #remember({ clientId, owner, expiresAt }: ClientBinding): void {
    const known = this.#known.get(clientId);
    if (known && known.owner === owner && known.expiresAt >= expiresAt) return;
    if (!known && this.#known.size >= CACHE_LIMIT) this.#known.clear();
    this.#known.set(clientId, { clientId, owner, expiresAt });
  }

  #tell(clientId: string, owner: string): void {
    for (const listener of this.#listeners) listener(clientId, owner);
  }
}
