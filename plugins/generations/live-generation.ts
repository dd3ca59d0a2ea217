import type { Logger } from 'pino';
import { FINAL_STATES, type Generation } from '../../contracts/generation.js';

/**
 * A generation still queued or running, held in memory: the authoritative copy while it lives.
 * Everything that changes it runs through `run`, one task at a time, so events, resubmissions
 * and the end are applied (and persisted) in the order they happened.
 */
export class LiveGeneration {
  /** Last news from ComfyUI (or the bridge's own submission), for the stuck watchdog. */
  lastNewsAt = Date.now();
  /** create() has not heard back from transport.submit yet. */
  submitting = false;
  /** The client asked to interrupt it. */
  interruptRequested = false;
  /** A watchdog or reconciliation check is in flight. */
  checking = false;
  /** Percent-only changes not written to the store yet. */
  dirty = false;
  lastPersistAt = 0;
  persistTimer: NodeJS.Timeout | null = null;
  retryTimer: NodeJS.Timeout | null = null;
  log: Logger;
  #chain: Promise<void> = Promise.resolve();

  constructor(
    readonly gen: Generation,
    private readonly parentLog: Logger,
  ) {
    this.log = this.#childLog();
  }

  get ended(): boolean {
    return FINAL_STATES.has(this.gen.state);
  }

  /** A new prompt id (resubmission): the log lines follow it. */
  relog(): void {
    this.log = this.#childLog();
  }

  /** Runs `task` after every task queued before it; a failing task is logged and does not stop the queue. */
  run(task: () => Promise<void> | void): Promise<void> {
    const next = this.#chain.then(task).catch((error: unknown) => this.log.error({ err: error }, 'generation task failed'));
    this.#chain = next;
    return next;
  }

  /** Resolves once every task queued so far has run. */
  idle(): Promise<void> {
    return this.#chain;
  }

  clearTimers(): void {
    if (this.persistTimer) clearTimeout(this.persistTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.persistTimer = null;
    this.retryTimer = null;
  }

  #childLog(): Logger {
    return this.parentLog.child({ genId: this.gen.id, promptId: this.gen.promptId });
  }
}

/** A copy safe to hand out: the arrays are fresh, the graph is shared (it is replaced, never edited). */
export function snapshot(gen: Generation): Generation {
  return { ...gen, doneNodes: [...gen.doneNodes], results: gen.results.map((r) => ({ ...r })), uploads: [...gen.uploads] };
}
