import { join } from 'node:path';
import type { GenerationState } from '../../contracts/generation.js';
import type { OutputRef, TransportEvent } from '../../contracts/transport.js';
import { messageOf } from './failures.js';
import type { GenerationContext } from './generation-context.js';
import { snapshot, type LiveGeneration } from './live-generation.js';
import { persist, persistSoon } from './persistence.js';
import { applyProgress, isProgressEvent } from './progress.js';
import { copyOutputs } from './result-files.js';

/*
 * The state machine of a live generation: queued → running → completed | failed | interrupted.
 * Each step ignores a prompt_id that is no longer the generation's (a resubmission replaced it)
 * and a generation that already ended, so every generation ends exactly once.
 */

export async function applyProgressEvent(
  ctx: GenerationContext,
  live: LiveGeneration,
  event: Extract<TransportEvent, { promptId: string }>,
): Promise<void> {
  if (live.gen.promptId !== event.promptId || live.ended || !isProgressEvent(event)) return;
  const change = applyProgress(live.gen, event, new Date().toISOString());
  if (change === 'state') {
    await persist(ctx, live);
    ctx.notify(live.gen, 'updated');
  } else if (change === 'progress') {
    ctx.notify(live.gen, 'updated');
    persistSoon(ctx, live);
  }
  ctx.fireProgress(live, event);
}

export async function markRunning(ctx: GenerationContext, live: LiveGeneration, promptId: string): Promise<void> {
  if (live.gen.promptId !== promptId || live.gen.state !== 'queued') return;
  live.gen.state = 'running';
  live.gen.startedAt ??= new Date().toISOString();
  await persist(ctx, live);
  ctx.notify(live.gen, 'updated');
}

/** Copies every output into the result store, then (and only then) marks it completed. */
export async function complete(ctx: GenerationContext, live: LiveGeneration, promptId: string, outputs: OutputRef[]): Promise<void> {
  if (live.gen.promptId !== promptId || live.ended) return;
  const backend = live.gen.backend ?? '';
  let results;
  try {
    results = await copyOutputs(join(ctx.deps.resultsDir, live.gen.id), outputs, (ref) => ctx.deps.transport.fetchOutput(backend, ref));
  } catch (error) {
    live.log.warn({ err: error }, 'copying results failed');
    await finish(ctx, live, promptId, 'failed', `the generation ran, but its results could not be copied: ${messageOf(error)}`);
    return;
  }
  const gen = live.gen;
  gen.results = results;
  gen.state = 'completed';
  gen.percent = 100;
  gen.node = null;
  gen.step = null;
  gen.maxSteps = null;
  gen.error = null;
  gen.finishedAt = new Date().toISOString();
  gen.startedAt ??= gen.finishedAt;
  await end(ctx, live);
  live.log.info({ files: results.length }, 'generation completed');
  await ctx.deps.hooks.afterComplete.promise(snapshot(gen)).catch((error: unknown) => live.log.error({ err: error }, 'afterComplete hook failed'));
}

/** Ends it failed or interrupted (once: later ends of the same prompt are ignored). */
export async function finish(
  ctx: GenerationContext,
  live: LiveGeneration,
  promptId: string,
  state: Extract<GenerationState, 'failed' | 'interrupted'>,
  reason: string,
  event?: TransportEvent,
): Promise<void> {
  if (live.gen.promptId !== promptId || live.ended) return;
  const gen = live.gen;
  gen.state = state;
  gen.error = reason;
  gen.step = null;
  gen.maxSteps = null;
  gen.finishedAt = new Date().toISOString();
  if (event?.type === 'failed' && event.node !== null) gen.node = event.node;
  await end(ctx, live);
  if (state === 'failed') {
    live.log.warn({ reason }, 'generation failed');
    await ctx.deps.hooks.failed.promise(snapshot(gen), reason).catch((error: unknown) => live.log.error({ err: error }, 'failed hook failed'));
  } else {
    live.log.info({ reason }, 'generation interrupted');
  }
}

async function end(ctx: GenerationContext, live: LiveGeneration): Promise<void> {
  live.clearTimers();
  await persist(ctx, live);
  ctx.live.remove(live);
  ctx.notify(live.gen, 'finished');
}
