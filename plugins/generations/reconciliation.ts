import type { PromptLookup } from '../../contracts/transport.js';
import { describeRuntimeFailure } from './failures.js';
import type { GenerationContext } from './generation-context.js';
import { LiveGeneration } from './live-generation.js';
import { lookupPrompt } from './prompt-lookup.js';
import { onLostPrompt } from './resubmission.js';
import { complete, finish, markRunning } from './transitions.js';

/**
 * Takes every stored generation left queued or running back under watch (bridge restart) and asks
 * its backend what became of it, in the background. Resolves once they are loaded, not checked.
 */
export async function adoptUnfinished(ctx: GenerationContext): Promise<number> {
  const unfinished = await ctx.deps.storage.generations.unfinished();
  for (const gen of unfinished) {
    if (ctx.live.has(gen.id)) continue;
    const live = new LiveGeneration(gen, ctx.deps.log);
    ctx.live.add(live);
    if (gen.backend === null) {
      void live.run(() => onLostPrompt(ctx, live, gen.promptId, 'it was recorded but never submitted'));
      continue;
    }
    ctx.deps.transport.track(gen.promptId, gen.backend);
    void check(ctx, live, 'reconcile');
  }
  if (unfinished.length > 0) ctx.deps.log.info({ count: unfinished.length }, 'reconciling unfinished generations');
  return unfinished.length;
}

/** The stuck watchdog's tick: checks every live generation without news for stuckAfterMs. */
export function checkSilent(ctx: GenerationContext): void {
  const now = Date.now();
  for (const live of ctx.live.all()) {
    if (live.ended || live.submitting || live.checking) continue;
    if (now - live.lastNewsAt >= ctx.deps.options.stuckAfterMs) void check(ctx, live, 'stuck');
  }
}

/** Asks the backend about one generation and acts on the answer (reconciliation, stuck watchdog). */
async function check(ctx: GenerationContext, live: LiveGeneration, why: 'reconcile' | 'stuck'): Promise<void> {
  if (live.checking || live.ended || ctx.closed) return;
  live.checking = true;
  const { promptId, backend } = live.gen;
  const { stuckAfterMs, reconcileRetryMs } = ctx.deps.options;
  const silentFor = `no news from ComfyUI backend ${backend} for ${stuckAfterMs < 10_000 ? `${stuckAfterMs} ms` : `${Math.round(stuckAfterMs / 1000)} s`}`;
  try {
    let found: PromptLookup;
    try {
      found = await lookupPrompt(ctx, promptId, backend ?? '');
    } catch (error) {
      if (why === 'stuck') {
        await live.run(() => finish(ctx, live, promptId, 'failed', `${silentFor}, and it cannot be reached`));
      } else if (!ctx.closed && !live.ended) {
        // Unreachable for now: ask again later; the transport reports `lost` if it stays down.
        live.log.debug({ err: error }, 'backend unreachable during reconciliation; will ask again');
        live.retryTimer = setTimeout(() => void check(ctx, live, 'reconcile'), reconcileRetryMs);
        live.retryTimer.unref();
      }
      return;
    }
    if (live.gen.promptId !== promptId || live.ended) return;
    switch (found.state) {
      case 'completed':
        await live.run(() => complete(ctx, live, promptId, found.outputs));
        return;
      case 'failed':
        await live.run(() =>
          finish(ctx, live, promptId, 'failed', describeRuntimeFailure({ node: found.node, nodeType: null, exceptionType: null, message: found.message })),
        );
        return;
      case 'interrupted':
        await live.run(() => finish(ctx, live, promptId, 'interrupted', `interrupted on ComfyUI backend ${backend}`));
        return;
      case 'unknown':
        await live.run(() => onLostPrompt(ctx, live, promptId, `ComfyUI backend ${backend} no longer knows the prompt`));
        return;
      case 'queued':
        // Waiting its turn behind other prompts is not being stuck.
        live.lastNewsAt = Date.now();
        return;
      case 'running':
        if (why === 'stuck') {
          void ctx.deps.transport.cancel(promptId, backend ?? '').catch(() => undefined);
          await live.run(() => finish(ctx, live, promptId, 'failed', silentFor));
          return;
        }
        live.lastNewsAt = Date.now();
        await live.run(() => markRunning(ctx, live, promptId));
        return;
    }
  } finally {
    live.checking = false;
  }
}
