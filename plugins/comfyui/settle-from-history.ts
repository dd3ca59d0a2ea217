import { setTimeout as sleep } from 'node:timers/promises';
import type { Tracked } from './in-flight-prompts.js';
import { endingOf } from './prompt-endings.js';
import { foundInHistory, isObject } from './protocol.js';
import type { TransportContext } from './transport-context.js';

/** After execution_success, real ComfyUI writes history a moment later (task_done runs after execute). */
const HISTORY_RETRY_DELAYS_MS = [0, 50, 100, 200, 400, 800, 1600];

/** History is the source of truth for the outputs (every output node, cached ones included). */
export async function settleFromHistory(ctx: TransportContext, tracked: Tracked): Promise<void> {
  const { promptId, backend } = tracked;
  for (const delay of HISTORY_RETRY_DELAYS_MS) {
    if (delay > 0) {
      try {
        await sleep(delay, undefined, { signal: ctx.closing });
      } catch {
        return; // closing
      }
    }
    if (!ctx.inFlight.isCurrent(tracked)) return;
    try {
      const res = await backend.http.json('GET', `/history/${encodeURIComponent(promptId)}`);
      const entry = isObject(res.body) ? res.body[promptId] : undefined;
      if (entry !== undefined) {
        const end = endingOf(foundInHistory(entry));
        if (end) {
          ctx.inFlight.finish(tracked, end);
          return;
        }
      }
    } catch (error) {
      ctx.log.debug({ err: error, promptId, backend: backend.name }, 'history read failed after execution_success');
    }
  }
  ctx.log.warn({ promptId, backend: backend.name }, 'history never confirmed a finished prompt; using the outputs seen on the socket');
  ctx.inFlight.finish(tracked, { type: 'completed', outputs: tracked.seenOutputs });
}
