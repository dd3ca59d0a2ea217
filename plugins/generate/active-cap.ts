/**
 * Per-client fairness: a clientId may have at most `max` generations queued or running. Requests
 * still inside generations.create() are not counted by the service yet, so they hold a slot here.
 */
export class ActiveCap {
  readonly #pending = new Map<string, number>();

  constructor(
    private readonly max: number,
    private readonly active: (clientId: string) => number,
  ) {}

  /** A release function when a slot is free, undefined when the client is at its cap. */
  reserve(clientId: string): (() => void) | undefined {
    const pending = this.#pending.get(clientId) ?? 0;
    if (this.active(clientId) + pending >= this.max) return undefined;
    this.#pending.set(clientId, pending + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#pending.get(clientId) ?? 1) - 1;
      if (left > 0) this.#pending.set(clientId, left);
      else this.#pending.delete(clientId);
    };
  }
}
