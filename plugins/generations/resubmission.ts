import { cancel } from './cancel.js';
import { messageOf } from './failures.js';
import type { GenerationContext } from './generation-context.js';
import { newPromptId } from './ids.js';
import { cloneGraph, placeInputs } from './input-placement.js';
import type { LiveGeneration } from './live-generation.js';
import { persist } from './persistence.js';
import { resetProgress } from './progress.js';
import { finish } from './transitions.js';

/** The backend forgot the prompt: submit it again (once, by default) or fail it, per `onLost`. */
export async function onLostPrompt(ctx: GenerationContext, live: LiveGeneration, promptId: string, reason: string): Promise<void> {
  if (live.gen.promptId !== promptId || live.ended) return;
  const { onLost, maxAttempts } = ctx.deps.options;
  if (onLost === 'fail') return finish(ctx, live, promptId, 'failed', reason);
  if (live.gen.attempts >= maxAttempts) {
    return finish(ctx, live, promptId, 'failed', `${reason}; it was already submitted ${live.gen.attempts} time(s)`);
  }
  const backend = ctx.deps.transport.pickBackend();
  if (!backend) return finish(ctx, live, promptId, 'failed', `${reason}, and no ComfyUI backend is reachable to submit it again`);
  await resubmit(ctx, live, backend, reason);
}

async function resubmit(ctx: GenerationContext, live: LiveGeneration, backend: string, reason: string): Promise<void> {
  const gen = live.gen;
  const oldPromptId = gen.promptId;
  const graph = cloneGraph(gen.graph);
  try {
    await placeInputs(ctx, graph, gen.uploadInputs ?? {}, gen.shippedInputs ?? {}, backend);
  } catch (error) {
    return finish(ctx, live, oldPromptId, 'failed', `${reason}; its images could not be uploaded again: ${messageOf(error)}`);
  }
  const promptId = newPromptId();
  gen.promptId = promptId;
  gen.backend = backend;
  gen.graph = graph;
  gen.attempts += 1;
  gen.state = 'queued';
  gen.position = null;
  gen.startedAt = null;
  resetProgress(gen);
  ctx.live.movePrompt(live, oldPromptId);
  live.relog();
  live.lastNewsAt = Date.now();
  live.log.warn({ reason, backend, attempt: gen.attempts }, 'backend lost the generation; submitting it again');
  await persist(ctx, live, { graph });
  ctx.notify(gen, 'updated');
  live.submitting = true;
  try {
    const { position } = await ctx.deps.transport.submit({ promptId, graph, backend });
    live.submitting = false;
    live.lastNewsAt = Date.now();
    gen.position = position;
    await persist(ctx, live);
  } catch (error) {
    live.submitting = false;
    await finish(ctx, live, promptId, 'failed', `${reason}; submitting it again failed: ${messageOf(error)}`);
    return;
  }
  if (live.interruptRequested) void cancel(ctx, live).catch((error: unknown) => live.log.warn({ err: error }, 'deferred interrupt failed'));
}
