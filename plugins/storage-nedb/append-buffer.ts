import { appendFile } from 'node:fs/promises';

interface Batch {
  lines: string;
  done: Promise<void>;
  settle: (error?: unknown) => void;
}

function newBatch(): Batch {
  let settle!: (error?: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    settle = (error?: unknown) => (error === undefined ? resolve() : reject(error as Error));
  });
  // A batch nobody awaits (an index line written at open) must not become an unhandled rejection.
  done.catch(() => undefined);
  return { lines: '', done, settle };
}

/**
 * Group commit for one datafile. nedb appends each change with its own fs.appendFile (open, write,
 * close) inside its one-at-a-time executor, so every write waited for three filesystem round trips
 * before the next could start: a few hundred writes per second at most. Here lines are collected
 * while the previous append is on its way and written together by one append, in the order they
 * were made. `flushed()` resolves once every line handed in so far is in the file (or rejects with
 * the append's error), so callers that await it keep "resolved = written" (as before, without fsync).
 */
export class AppendBuffer {
  /** Lines waiting for the next append. */
  #next: Batch | null = null;
  /** The append on its way. */
  #inFlight: Batch | null = null;

  constructor(
    private readonly filename: string,
    private readonly mode: number,
  ) {}

  push(lines: string): void {
    if (lines.length === 0) return;
    const start = this.#next === null && this.#inFlight === null;
    this.#next ??= newBatch();
    this.#next.lines += lines;
    if (start) void this.#drain();
  }

  /** Resolves when everything pushed so far is written. */
  flushed(): Promise<void> {
    return (this.#next ?? this.#inFlight)?.done ?? Promise.resolve();
  }

  async #drain(): Promise<void> {
    // Let the changes made in the current tick join the first batch.
    await Promise.resolve();
    while (this.#next) {
      const batch = (this.#inFlight = this.#next);
      this.#next = null;
      try {
        await appendFile(this.filename, batch.lines, { encoding: 'utf8', mode: this.mode });
        batch.settle();
      } catch (error) {
        batch.settle(error);
      }
    }
    this.#inFlight = null;
  }
}
