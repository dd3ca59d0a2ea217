import type { Generation } from '../../contracts/generation.js';
import type { CreateGeneration } from '../../plugins/generations/api.js';
import type { Graph } from '../../contracts/graph.js';
import { backendUnavailable } from '../../core/errors.js';
import { cancel } from './cancel.js';
import { submitFailure } from './failures.js';
import type { GenerationContext } from './generation-context.js';
import { newGenerationId, newPromptId } from './ids.js';
import { cloneGraph, markUploadsUsed, placeInputs } from './input-placement.js';
import { LiveGeneration, snapshot } from './live-generation.js';
import { nodesToRun, outputClasses } from './nodes-to-run.js';
import { persist } from './persistence.js';
import { finish } from './transitions.js';

const retryAfter = { 'Retry-After': '5' };

/**
 * Records a generation before submitting it (so a crash mid-submission leaves a trace to reconcile),
 * then submits it under a bridge-minted prompt_id.
 */
export async function createGeneration(ctx: GenerationContext, request: CreateGeneration): Promise<Generation> {
  const { transport, storage, hooks } = ctx.deps;
  if (ctx.closed) throw backendUnavailable('the bridge is shutting down', { headers: retryAfter });
  const backend = transport.pickBackend();
  if (!backend) throw backendUnavailable('no ComfyUI backend is reachable right now; try again shortly', { headers: retryAfter });

  const id = newGenerationId();
  const promptId = newPromptId();
  const uploadInputs = { ...request.uploads };
  const shippedInputs = { ...request.shippedFiles };
  let graph: Graph = cloneGraph(request.graph);
  await placeInputs(ctx, graph, uploadInputs, shippedInputs, backend);
  graph = await hooks.beforeSubmit.promise(graph, {
    generationId: id,
    workflow: request.workflow,
    clientId: request.clientId,
    principal: request.principal,
    backend,
  });
  const totalNodes = (await countNodesToRun(ctx, graph)).size;
  const now = new Date().toISOString();
  const gen: Generation = {
    id,
    clientId: request.clientId,
    owner: request.principal.anonymous ? null : request.principal.id,
    workflow: request.workflow,
    state: 'queued',
    promptId,
    backend,
    graph,
    uploads: [...new Set(Object.values(uploadInputs))],
    uploadInputs,
    shippedInputs,
    createdAt: now,
    startedAt: null,
    finishedAt: null,
    updatedAt: now,
    position: null,
    percent: 0,
    node: null,
    step: null,
    maxSteps: null,
    totalNodes,
    doneNodes: [],
    results: [],
    error: null,
    attempts: 1,
  };
  await storage.generations.insert(gen);
  const live = new LiveGeneration(gen, ctx.deps.log);
  live.submitting = true;
  ctx.live.add(live);
  markUploadsUsed(ctx, live);
  ctx.notify(gen, 'created');
  live.log.info({ workflow: gen.workflow, clientId: gen.clientId, backend, totalNodes }, 'generation recorded');

  let position: number;
  try {
    ({ position } = await transport.submit({ promptId, graph, backend }));
  } catch (error) {
    live.submitting = false;
    const failure = submitFailure(error, backend, id);
    live.log.debug({ err: error }, 'submission failed');
    await live.run(() => finish(ctx, live, promptId, 'failed', failure.reason));
    throw failure.rethrow;
  }
  live.submitting = false;
  live.lastNewsAt = Date.now();
  await live.run(async () => {
    if (live.gen.promptId !== promptId) return;
    live.gen.position = position;
    await persist(ctx, live);
    if (!live.ended) ctx.notify(live.gen, 'updated');
  });
  await hooks.afterSubmit.promise(snapshot(live.gen)).catch((error: unknown) => live.log.error({ err: error }, 'afterSubmit hook failed'));
  if (live.interruptRequested && !live.ended) await cancel(ctx, live).catch((error: unknown) => live.log.warn({ err: error }, 'deferred interrupt failed'));
  return snapshot(live.gen);
}

async function countNodesToRun(ctx: GenerationContext, graph: Graph): Promise<Set<string>> {
  const classes = Object.values(graph).map((node) => node.class_type);
  const outputs = await outputClasses(
    classes,
    (classType) => ctx.deps.transport.objectInfo(classType),
    ctx.outputClasses,
    ctx.deps.options.objectInfoTimeoutMs,
  );
  return nodesToRun(graph, outputs);
}
