import type { Logger } from 'pino';
import type { OutputRef, PromptListener, TransportEvent } from '../../contracts/transport.js';
import type { BackendConnection } from './backend-connection.js';
import type { Ending } from './prompt-endings.js';

/**
 * A prompt the bridge follows for the owner of its PromptRun. The one registry of prompt liveness:
 * terminal events remove it, so each prompt ends exactly once.
 */
export interface Tracked {
  promptId: string;
  backend: BackendConnection;
  /** The run's owner: hears this prompt's events, the terminal one last. */
  listener: PromptListener;
  /** POST /prompt not answered yet: the backend may not know it, so reconciliation leaves it alone. */
  submitting: boolean;
  /** execution_success seen; the outputs are being read from /history. */
  settling: boolean;
  /** A `started` was reported (a resumed prompt found running reports one). */
  started: boolean;
  /**
   * Outputs announced by `executed` frames (one node's latest frame replaces its earlier ones, as in
   * history). They are the outputs when `wholeRunOn` holds; else the fallback when /history cannot be read.
   */
  seenOutputs: OutputRef[];
  /**
   * The socket (BackendConnection.socketSeq) that carried this run from `execution_start` with an empty
   * `execution_cached`, or 0. ComfyUI's history lists the ui outputs of every node of the prompt it still
   * has cached; with nothing cached and no frame missed, those are exactly the `executed` frames seen, so
   * the run ends at `execution_success` without reading /history (which real ComfyUI stores only after).
   */
  wholeRunOn: number;
  /** Set while a history read waits for `executing` node null (history is stored by then). */
  historyStored?: () => void;
  /** Last time the backend said anything about it (a frame, or a check that found it queued/running). */
  lastNewsAt: number;
  /**
   * Last frame from ComfyUI about it (or its submission, resumption, or a check that found it still
   * queued): what stuckAfterMs measures. A check that finds it running is no frame: a prompt that
   * runs but reports nothing is what "stuck" means.
   */
  lastFrameAt: number;
  /** No frame this long → checked, and ended `stuck` unless still queued (0 = never). */
  stuckAfterMs: number;
  /** A stuck check is in flight. */
  checking: boolean;
}

/**
 * The prompts in flight, by prompt_id (a Map, so a backend's socket finds a frame's prompt with a
 * plain lookup); events go to each prompt's own listener.
 */
export class InFlightPrompts extends Map<string, Tracked> {
  constructor(private readonly log: Logger) {
    super();
  }

  /** Still the entry for its prompt (not ended or replaced meanwhile). */
  isCurrent(tracked: Tracked): boolean {
    return this.get(tracked.promptId) === tracked;
  }

  /** A copy: ending prompts while walking it is safe. */
  all(): Tracked[] {
    return [...this.values()];
  }

  add(tracked: Tracked): void {
    this.set(tracked.promptId, tracked);
  }

  /** Forgets it without an event (its submission failed, and the caller hears that). */
  drop(tracked: Tracked): void {
    if (this.isCurrent(tracked)) this.delete(tracked.promptId);
  }

  /** A non-terminal event of a prompt still in flight. */
  report(tracked: Tracked, event: TransportEvent): void {
    if (!this.isCurrent(tracked)) return;
    if (event.type === 'started') tracked.started = true;
    this.#deliver(tracked, event);
  }

  /** The terminal event: the prompt is forgotten first, so it ends exactly once. */
  finish(tracked: Tracked, end: Ending): void {
    if (!this.isCurrent(tracked)) return;
    this.delete(tracked.promptId);
    this.#deliver(tracked, { ...end, promptId: tracked.promptId, backend: tracked.backend.name } as TransportEvent);
  }

  #deliver(tracked: Tracked, event: TransportEvent): void {
    try {
      tracked.listener(event);
    } catch (error) {
      this.log.error({ err: error, event: event.type, promptId: event.promptId }, 'prompt listener threw');
    }
  }
}
