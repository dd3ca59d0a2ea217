import { describeRuntimeFailure } from './failures.js';
import type { GenerationContext } from './generation-context.js';
import type { LiveGeneration } from './live-generation.js';
import { lookupPrompt } from './prompt-lookup.js';
import { complete, finish } from './transitions.js';

/** Cancels a live generation on its backend and ends it when the backend will not say so itself. */
export async function cancel(ctx: GenerationContext, live: LiveGeneration): Promise<void> {
  const { promptId, backend } = live.gen;
  const outcome = await ctx.deps.transport.cancel(promptId, backend ?? '');
  live.log.info({ outcome }, 'interrupt requested');
  if (outcome === 'removed') {
    await live.run(() => finish(ctx, live, promptId, 'interrupted', 'interrupted on request before it started'));
  } else if (outcome === 'not_found') {
    // Not in the queue: it ended meanwhile, or the backend never had it (then nothing will run).
    const found = await lookupPrompt(ctx, promptId, backend ?? '').catch(() => undefined);
    if (found?.state === 'completed') await live.run(() => complete(ctx, live, promptId, found.outputs));
    else if (found?.state === 'failed') {
      const reason = describeRuntimeFailure({ node: found.node, nodeType: null, exceptionType: null, message: found.message });
      await live.run(() => finish(ctx, live, promptId, 'failed', reason));
    } else if (found?.state === 'interrupted' || found?.state === 'unknown') {
      await live.run(() => finish(ctx, live, promptId, 'interrupted', 'interrupted on request'));
    }
  }
  // 'interrupted': ComfyUI stops at the next node boundary and says so; the event ends it.
}
