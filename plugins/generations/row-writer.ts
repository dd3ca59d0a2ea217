/**
 * The writes of one generation's row: one at a time, in the order asked, and coalesced — a write asked
 * for while another is on its way waits for it and then writes the row as it is when it starts (the
 * latest state), so every request asked meanwhile is answered by that one write.
 *
 * One at a time matters beyond nedb (which applies writes in call order anyway): PostgreSQL runs
 * statements of a pool on several connections, and a `running` patch overtaking the final one would
 * leave a finished generation `running` on disk. Coalescing matters when writes are not awaited by
 * the generation's own queue: a burst of changes costs at most two writes, not one per change.
 */
export class RowWriter {
  #inFlight: Promise<void> | null = null;
  #next: { withGraph: boolean; done: Promise<void>; resolve: () => void } | null = null;

  /** `write` never rejects (it reports its own failure): a refused write must not stop the later ones. */
  constructor(private readonly write: (withGraph: boolean) => Promise<void>) {}

  /**
   * Asks for a write of the row; resolves once a write that started after this call has ended, i.e.
   * once the row's state at the time of the call (or a later one) is written.
   */
  request(withGraph: boolean): Promise<void> {
    if (this.#next) {
      this.#next.withGraph ||= withGraph;
      return this.#next.done;
    }
    if (this.#inFlight === null) return this.#start(withGraph);
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    this.#next = { withGraph, done, resolve };
    return done;
  }

  /** Resolves once every write asked for so far has ended. */
  async idle(): Promise<void> {
    while (this.#inFlight) await (this.#next?.done ?? this.#inFlight);
  }

  #start(withGraph: boolean): Promise<void> {
    const written = this.write(withGraph).then(() => {
      this.#inFlight = null;
      const next = this.#next;
      if (next) {
        this.#next = null;
        void this.#start(next.withGraph).then(next.resolve);
      }
    });
    this.#inFlight = written;
    return written;
  }
}
