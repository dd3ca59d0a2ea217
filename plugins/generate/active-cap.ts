/** Queued + running generations: one client's, and the whole bridge's. */
export interface ActiveCounts {
  client: number;
  all: number;
}

/**
 * The two 429 caps on active (queued or running) generations: per clientId (fairness) and bridge-wide
 * (clientIds are free-form, so a per-client cap alone can be sidestepped by rotating them; SPEC §2.4).
 * Requests still inside generations.create() are not counted yet, so they hold a slot here, taken
 * before the count is read: two requests of this process never both take the last one. Both counts
 * come from one read (`count`): the in-process one, or (several instances on one store) the store's,
 * one statement on storage-postgres; then a request on another instance that is still being created is
 * not seen, so a cap may be passed by the requests that race it at that moment, never more.
 */
export class ActiveCaps {
  readonly #pending = new Map<string, number>();
  #pendingAll = 0;

  constructor(
    private readonly max: { perClient: number; all: number },
    private readonly count: (clientId: string) => ActiveCounts | Promise<ActiveCounts>,
  ) {}

  /** A release function when both caps have room, else which one is full (the bridge-wide one first). */
  async reserve(clientId: string): Promise<(() => void) | 'all' | 'client'> {
    const pendingClient = this.#pending.get(clientId) ?? 0;
    const pendingAll = this.#pendingAll;
    this.#pending.set(clientId, pendingClient + 1);
    this.#pendingAll++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#pendingAll--;
      const left = (this.#pending.get(clientId) ?? 1) - 1;
      if (left > 0) this.#pending.set(clientId, left);
      else this.#pending.delete(clientId);
    };
    let counts: ActiveCounts;
    try {
      counts = await this.count(clientId);
    } catch (error) {
      release();
      throw error;
    }
    const full = counts.all + pendingAll >= this.max.all ? 'all' : counts.client + pendingClient >= this.max.perClient ? 'client' : undefined;
    if (full === undefined) return release;
    release();
    return full;
  }
}
