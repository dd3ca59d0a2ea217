import { setTimeout as sleep } from 'node:timers/promises';
import type { Tracked } from './in-flight-prompts.js';
import { endingOf } from './prompt-endings.js';
import { foundInHistory, isObject } from './protocol.js';
import type { TransportContext } from './transport-context.js';

/**
 * Real ComfyUI stores the history after execution_success (task_done runs after execute; 80 ms later
 * in one capture), then sends `executing` node null: the first read waits for that frame, for the
 * socket's loss, or at most this long; the retries cover a history still missing after that.
 */
const STORED_WAIT_MS = 1000;
const HISTORY_RETRY_DELAYS_MS = [0, 50, 100, 200, 400, 800, 1600];

/** History is the source of truth for the outputs (every output node, cached ones included). */
export async function settleFromHistory(ctx: TransportContext, tracked: Tracked): Promise<void> {
  const { promptId, backend } = tracked;
  await historyStored(tracked);
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

/** Resolves at the prompt's `executing` node null (its history is stored then), the socket's loss, or after STORED_WAIT_MS. */
function historyStored(tracked: Tracked): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      tracked.historyStored = undefined;
      resolve();
    };
    const timer = setTimeout(done, STORED_WAIT_MS);
    tracked.historyStored = done;
  });
}
