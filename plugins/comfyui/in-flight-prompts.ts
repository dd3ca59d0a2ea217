import type { Logger } from 'pino';
import type { OutputRef, TransportEvent } from '../../contracts/transport.js';
import type { BackendConnection } from './backend-connection.js';
import type { Ending } from './prompt-endings.js';

/** A prompt the bridge waits on. Terminal events remove it, so each prompt ends exactly once. */
export interface Tracked {
  promptId: string;
  backend: BackendConnection;
  /** POST /prompt not answered yet: the backend may not know it, so reconciliation leaves it alone. */
  submitting: boolean;
  /** execution_success seen; the outputs are being read from /history. */
  settling: boolean;
  /** Outputs announced by `executed` frames: the fallback when /history cannot be read. */
  seenOutputs: OutputRef[];
  /** Last time the backend said anything about it (a frame, or a check that found it queued/running). */
  lastNewsAt: number;
}

type Listener = (event: TransportEvent) => void;

/** The prompts in flight, by prompt_id, and the listeners told what happens to them. */
export class InFlightPrompts {
  readonly #tracked = new Map<string, Tracked>();
  readonly #listeners = new Set<Listener>();

  constructor(private readonly log: Logger) {}

  has(promptId: string): boolean {
    return this.#tracked.has(promptId);
  }

  get(promptId: string): Tracked | undefined {
    return this.#tracked.get(promptId);
  }

  /** Still the entry for its prompt (not ended, untracked or replaced meanwhile). */
  isCurrent(tracked: Tracked): boolean {
    return this.#tracked.get(tracked.promptId) === tracked;
  }

  /** A copy: ending prompts while walking it is safe. */
  all(): Tracked[] {
    return [...this.#tracked.values()];
  }

  add(tracked: Tracked): void {
    this.#tracked.set(tracked.promptId, tracked);
  }

  untrack(promptId: string): void {
    this.#tracked.delete(promptId);
  }

  /** Forgets it without an event (its submission failed, and the caller hears that). */
  drop(tracked: Tracked): void {
    if (this.isCurrent(tracked)) this.#tracked.delete(tracked.promptId);
  }

  finish(tracked: Tracked, end: Ending): void {
    if (!this.isCurrent(tracked)) return;
    this.#tracked.delete(tracked.promptId);
    this.emit({ ...end, promptId: tracked.promptId, backend: tracked.backend.name } as TransportEvent);
  }

  onEvent(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  clearListeners(): void {
    this.#listeners.clear();
  }

  emit(event: TransportEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.log.error({ err: error, event: event.type, promptId: event.promptId }, 'transport event listener threw');
      }
    }
  }
}
