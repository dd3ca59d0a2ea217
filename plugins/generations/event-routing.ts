import type { TransportEvent } from '../../contracts/transport.js';
import { describeRuntimeFailure } from './failures.js';
import type { GenerationContext } from './generation-context.js';
import { isProgressEvent } from './progress.js';
import { onLostPrompt } from './resubmission.js';
import { applyProgressEvent, complete, finish } from './transitions.js';

/** Routes a transport event to its live generation by prompt_id, queued behind that generation's earlier tasks. */
export function routeEvent(ctx: GenerationContext, event: TransportEvent): void {
  if (ctx.closed) return;
  const live = ctx.live.forPrompt(event.promptId);
  if (!live) return; // another bridge's prompt, or one already ended
  live.lastNewsAt = Date.now();
  const { promptId } = event;
  if (isProgressEvent(event)) {
    void live.run(() => applyProgressEvent(ctx, live, event));
    return;
  }
  switch (event.type) {
    case 'completed':
      void live.run(() => complete(ctx, live, promptId, event.outputs));
      return;
    case 'failed':
      void live.run(() => finish(ctx, live, promptId, 'failed', describeRuntimeFailure(event), event));
      return;
    case 'interrupted': {
      const reason = live.interruptRequested ? 'interrupted on request' : `interrupted on ComfyUI backend ${event.backend}`;
      void live.run(() => finish(ctx, live, promptId, 'interrupted', reason, event));
      return;
    }
    case 'lost':
      void live.run(() => onLostPrompt(ctx, live, promptId, event.reason));
      return;
    default:
      return;
  }
}
