import type { Clock, Timer } from '../../core/timers.js';

interface Pending {
  at: number;
  period?: number;
  fn: () => void;
}

/**
 * A clock that moves only when told: `advance(ms)` runs every timer falling due, in time order, and lets the
 * promises they start settle in between, so a test waits on a condition instead of sleeping.
 */
export class ManualClock implements Clock {
  #now: number;
  #timers = new Set<Pending>();

  constructor(start = Date.parse('2026-01-01T00:00:00Z')) {
    this.#now = start;
  }

  now = (): number => this.#now;

  setTimeout(fn: () => void, ms: number): Timer {
    return this.#add({ at: this.#now + Math.max(0, ms), fn });
  }

  setInterval(fn: () => void, ms: number): Timer {
    const period = Math.max(1, ms);
    return this.#add({ at: this.#now + period, period, fn });
  }

  /** Timers waiting to fire. */
  get pending(): number {
    return this.#timers.size;
  }

  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    await settle();
    for (;;) {
      const due = [...this.#timers].filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.#now = due.at;
      if (due.period === undefined) this.#timers.delete(due);
      else due.at += due.period;
      due.fn();
      await settle();
    }
    this.#now = end;
    await settle();
  }

  #add(pending: Pending): Timer {
    this.#timers.add(pending);
    return { clear: () => void this.#timers.delete(pending) };
  }
}

/** Lets promise chains and I/O callbacks that are already due run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
