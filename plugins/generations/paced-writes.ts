/**
 * Progress writes that came due, started a batch per turn of the event loop. The throttled writes of
 * generations that moved together (every live generation's progress in one burst of events) come due
 * together, and each costs the store tens of µs of this process's CPU: 1,000 of them in one timer turn
 * held the event loop for ~40 ms, which every other request waited out. Spread over turns, each waits
 * at most a few ms; they are informational (the state and the end are written without waiting here).
 */
export class PacedWrites<T> {
  readonly #due: T[] = [];
  #scheduled = false;

  /** `write` starts one write (not awaited here; the row's writer keeps its order). */
  constructor(
    private readonly write: (item: T) => void,
    private readonly perTurn = 50,
  ) {}

  /** Starts `item`'s write in this or a later turn, after the items added before it. */
  add(item: T): void {
    this.#due.push(item);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#drain);
  }

  readonly #drain = (): void => {
    const batch = this.#due.splice(0, this.perTurn);
    if (this.#due.length > 0) setImmediate(this.#drain);
    else this.#scheduled = false;
    for (const item of batch) this.write(item);
  };
}
