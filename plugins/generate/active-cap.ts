/**
 * Per-client fairness: a clientId may have at most `max` generations queued or running. Requests
 * still inside generations.create() are not counted by the service yet, so they hold a slot here.
 * `active` is the in-process count, or (several instances on one store) the store's: then a request
 * on another instance that is still being created is not seen, so the cap may be passed by the
 * requests that race it at that moment, never more.
 */
export class ActiveCap {
  readonly #pending = new Map<string, number>();

  constructor(
    private readonly max: number,
    private readonly active: (clientId: string) => number | Promise<number>,
  ) {}

  /** A release function when a slot is free, undefined when the client is at its cap. */
  async reserve(clientId: string): Promise<(() => void) | undefined> {
    // The slot is held while the count is read, so two requests of this process never both take the last one.
    const pending = this.#pending.get(clientId) ?? 0;
    this.#pending.set(clientId, pending + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = (this.#pending.get(clientId) ?? 1) - 1;
      if (left > 0) this.#pending.set(clientId, left);
      else this.#pending.delete(clientId);
    };
    let active: number;
    try {
      active = await this.active(clientId);
    } catch (error) {
      release();
      throw error;
    }
    if (active + pending >= this.max) {
      release();
      return undefined;
    }
    return release;
  }
}
