import type { BackendConnection } from './backend-connection.js';
import { lookupPrompts } from './backend-queries.js';
import type { Tracked } from './in-flight-prompts.js';
import { endingOf } from './prompt-endings.js';
import type { Found } from './protocol.js';
import type { TransportContext } from './transport-context.js';

/**
 * The transport's one watchdog and one reconciler: after a (re)connect or a long silence it asks a
 * backend about every prompt still in flight there; it ends prompts whose backend stays down too
 * long as `lost` (a prompt not started on a backend that refuses connections sooner, to move it), and
 * prompts silent for their run's stuckAfterMs as `stuck` unless ComfyUI says they are queued or running.
 */
export class Reconciler {
  readonly #reconciling = new Set<BackendConnection>();
  readonly #reconcileAgain = new Set<BackendConnection>();

  constructor(private readonly ctx: TransportContext) {}

  /**
   * After a (re)connect or a long silence: ask the backend about every prompt still in flight there.
   * One pass per backend at a time; a request during a pass runs one more pass after it.
   */
  async reconcile(backend: BackendConnection): Promise<void> {
    if (this.#reconciling.has(backend)) {
      this.#reconcileAgain.add(backend);
      return;
    }
    this.#reconciling.add(backend);
    try {
      do {
        this.#reconcileAgain.delete(backend);
        await this.#reconcileOnce(backend);
      } while (this.#reconcileAgain.has(backend) && !this.ctx.closing.aborted);
    } finally {
      this.#reconciling.delete(backend);
    }
  }

  /**
   * The periodic tick: stuck prompts are checked; on a backend that is down, prompts not started
   * move after moveQueuedAfterMs when it refuses connections and another backend is up, and every
   * prompt is lost after lostAfterMs; silent ones on a backend that is up are reconciled.
   */
  housekeep(): void {
    const now = Date.now();
    const { lostAfterMs, moveQueuedAfterMs, pollIntervalMs } = this.ctx.options;
    const stale = new Set<BackendConnection>();
    for (const tracked of this.ctx.inFlight.all()) {
      if (tracked.submitting || tracked.settling) continue;
      const { backend } = tracked;
      if (tracked.stuckAfterMs > 0 && now - tracked.lastFrameAt >= tracked.stuckAfterMs) {
        void this.#checkStuck(tracked);
      } else if (!backend.up) {
        const downFor = now - backend.downSince;
        if (downFor >= lostAfterMs) {
          this.#giveUp(tracked, `ComfyUI backend ${backend.name} has been unreachable for more than ${Math.round(lostAfterMs / 1000)} s`);
        } else if (downFor >= moveQueuedAfterMs && !tracked.started && backend.refusing && this.#anotherIsUp(backend)) {
          // Nothing listens there, and it had not started: waiting for the backend helps nobody.
          this.#giveUp(tracked, `ComfyUI backend ${backend.name} refuses connections and the prompt had not started`);
        }
      } else if (now - tracked.lastNewsAt >= pollIntervalMs) {
        stale.add(backend);
      }
    }
    for (const backend of stale) void this.reconcile(backend);
  }

  /** Ends it `lost` (its owner resubmits it elsewhere) and remembers to delete it from the old backend. */
  #giveUp(tracked: Tracked, reason: string): void {
    tracked.backend.abandoned.add(tracked.promptId);
    this.ctx.inFlight.finish(tracked, { type: 'lost', reason });
  }

  #anotherIsUp(backend: BackendConnection): boolean {
    return this.ctx.backends.all.some((other) => other !== backend && other.up);
  }

  /** No news for stuckAfterMs: queued or running (as ComfyUI says) is fine; an end is settled; no answer ends it `stuck`. */
  async #checkStuck(tracked: Tracked): Promise<void> {
    if (tracked.checking) return;
    tracked.checking = true;
    const { inFlight } = this.ctx;
    const { backend, stuckAfterMs } = tracked;
    const silentFor = `no news from ComfyUI backend ${backend.name} for ${stuckAfterMs < 10_000 ? `${stuckAfterMs} ms` : `${Math.round(stuckAfterMs / 1000)} s`}`;
    try {
      let found: Found | undefined;
      try {
        found = (await lookupPrompts(backend, [tracked.promptId])).get(tracked.promptId);
      } catch {
        inFlight.finish(tracked, { type: 'stuck', reason: `${silentFor}, and it cannot be reached` });
        return;
      }
      if (!inFlight.isCurrent(tracked) || tracked.settling) return;
      const state = found ?? { state: 'unknown' as const };
      if (state.state === 'queued') {
        // Waiting its turn behind other prompts is not being stuck.
        tracked.lastNewsAt = tracked.lastFrameAt = Date.now();
        return;
      }
      if (state.state === 'running') {
        // ComfyUI says it runs: a long silent node (video, upscaling) is not stuck. Never cut it;
        // it is asked again after another stuckAfterMs of silence.
        tracked.lastNewsAt = tracked.lastFrameAt = Date.now();
        if (!tracked.started) inFlight.report(tracked, { type: 'started', promptId: tracked.promptId, backend: backend.name });
        return;
      }
      this.#settle(tracked, state);
    } finally {
      tracked.checking = false;
    }
  }

  async #reconcileOnce(backend: BackendConnection): Promise<void> {
    const { inFlight, log } = this.ctx;
    const candidates = inFlight.all().filter((t) => t.backend === backend && !t.submitting && !t.settling);
    if (candidates.length === 0) return;
    let found: Map<string, Found>;
    try {
      found = await lookupPrompts(
        backend,
        candidates.map((t) => t.promptId),
      );
    } catch (error) {
      // Unreachable again: the socket's close and the lost timer take it from here.
      log.debug({ err: error, backend: backend.name }, 'reconciliation could not reach the backend');
      return;
    }
    for (const tracked of candidates) {
      if (!inFlight.isCurrent(tracked) || tracked.settling) continue;
      this.#settle(tracked, found.get(tracked.promptId) ?? { state: 'unknown' });
    }
  }

  /** Acts on what the backend said of a prompt: still going (news), an end, or unknown (lost). */
  #settle(tracked: Tracked, state: Found): void {
    const { inFlight } = this.ctx;
    if (state.state === 'queued' || state.state === 'running') {
      tracked.lastNewsAt = Date.now();
      // A resumed prompt found running (its start was missed): its owner hears it started.
      if (state.state === 'running' && !tracked.started) {
        inFlight.report(tracked, { type: 'started', promptId: tracked.promptId, backend: tracked.backend.name });
      }
      return;
    }
    const end = endingOf(state);
    inFlight.finish(
      tracked,
      end ?? { type: 'lost', reason: `ComfyUI backend ${tracked.backend.name} no longer knows the prompt (it restarted or dropped it)` },
    );
  }
}
