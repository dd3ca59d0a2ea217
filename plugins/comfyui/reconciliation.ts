import type { BackendConnection } from './backend-connection.js';
import { lookupPrompts } from './backend-queries.js';
import { endingOf } from './prompt-endings.js';
import type { Found } from './protocol.js';
import type { TransportContext } from './transport-context.js';

/**
 * Recovery after gaps: after a (re)connect or a long silence, asks a backend about every prompt
 * still in flight there; ends prompts whose backend stays down too long as `lost`.
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

  /** The periodic tick: prompts on a backend down for lostAfterMs are lost; silent ones get checked. */
  housekeep(): void {
    const now = Date.now();
    const { lostAfterMs, pollIntervalMs } = this.ctx.options;
    const stale = new Set<BackendConnection>();
    for (const tracked of this.ctx.inFlight.all()) {
      if (tracked.submitting || tracked.settling) continue;
      const { backend } = tracked;
      if (!backend.up) {
        if (now - backend.downSince >= lostAfterMs) {
          this.ctx.inFlight.finish(tracked, {
            type: 'lost',
            reason: `ComfyUI backend ${backend.name} has been unreachable for more than ${Math.round(lostAfterMs / 1000)} s`,
          });
        }
      } else if (now - tracked.lastNewsAt >= pollIntervalMs) {
        stale.add(backend);
      }
    }
    for (const backend of stale) void this.reconcile(backend);
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
    const now = Date.now();
    for (const tracked of candidates) {
      if (!inFlight.isCurrent(tracked) || tracked.settling) continue;
      const state = found.get(tracked.promptId) ?? { state: 'unknown' };
      if (state.state === 'queued' || state.state === 'running') {
        tracked.lastNewsAt = now;
        continue;
      }
      const end = endingOf(state);
      if (end) {
        inFlight.finish(tracked, end);
      } else {
        inFlight.finish(tracked, {
          type: 'lost',
          reason: `ComfyUI backend ${backend.name} no longer knows the prompt (it restarted or dropped it)`,
        });
      }
    }
  }
}
