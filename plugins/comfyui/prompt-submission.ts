import type { Graph } from '../../contracts/graph.js';
import { backendUnavailable, graphRejected, retryAfter, type PromptListener, type RunRequest } from '../../contracts/transport.js';
import { conflict } from '../../core/errors.js';
import type { Tracked } from './in-flight-prompts.js';
import { describeRejection, isObject } from './protocol.js';
import { lookupPrompts } from './backend-queries.js';
import type { TransportContext } from './transport-context.js';
import { staleSocket } from './http-client.js';

/** What a submission ComfyUI accepted gives its run. */
export interface Submitted {
  tracked: Tracked;
  /** Prompts ahead of it at submission. */
  position: number;
}

/** POST /prompt under the bridge-minted prompt_id, tracking it first; ComfyUI's refusals become BridgeErrors. */
export async function submitPrompt(
  ctx: TransportContext,
  request: RunRequest & { graph: Graph },
  listener: PromptListener,
): Promise<Submitted> {
  const { promptId, graph } = request;
  const { inFlight } = ctx;
  const backend = ctx.backends.get(request.backend);
  if (!backend) throw backendUnavailable(`no ComfyUI backend is named "${request.backend}"`);
  if (inFlight.has(promptId)) throw conflict(`prompt ${promptId} was already submitted`);
  const ahead = backend.queueRemaining ?? 0;
  const statusSeq = backend.statusSeq;
  // Tracked before sending: a tiny prompt can finish before POST /prompt answers.
  const tracked: Tracked = {
    promptId,
    backend,
    listener,
    submitting: true,
    settling: false,
    started: false,
    seenOutputs: [],
    wholeRunOn: 0,
    lastNewsAt: Date.now(),
    lastFrameAt: Date.now(),
    stuckAfterMs: request.stuckAfterMs ?? 0,
    checking: false,
  };
  inFlight.add(tracked);
  let res;
  try {
    const body = { prompt: graph, client_id: ctx.clientId, prompt_id: promptId };
    res = await backend.http.json('POST', '/prompt', body).catch(async (error: unknown) => {
      // Sent on a kept-alive socket the backend closed as idle at that moment (a busy machine makes the race
      // likely): reset before any answer. Sent once more on a new socket, unless the backend has it after all.
      if (!resetWhileIdle(error) || (await acceptedAnyway(backend, promptId))) throw error;
      return backend.http.json('POST', '/prompt', body);
    });
  } catch (error) {
    backend.lastError = (error as Error).message;
    // A busy backend may take the prompt and answer too late: ask before calling it failed, or the
    // prompt would run unseen while the client, told 503, submits it again.
    if ((timedOut(error) || resetWhileIdle(error)) && (await acceptedAnyway(backend, promptId))) {
      tracked.submitting = false;
      tracked.lastNewsAt = tracked.lastFrameAt = Date.now();
      return { tracked, position: ahead };
    }
    inFlight.drop(tracked);
    // It may have reached a backend that froze: deleted there when it answers again, so a prompt
    // the client was told failed never runs.
    backend.abandoned.add(promptId);
    throw backendUnavailable(`ComfyUI backend ${backend.name} cannot be reached`, { cause: error, headers: retryAfter() });
  }
  if (res.status === 400) {
    inFlight.drop(tracked);
    const nodeErrors = isObject(res.body) && isObject(res.body.node_errors) ? res.body.node_errors : {};
    throw graphRejected(`ComfyUI rejected the graph: ${describeRejection(res.body)}`, nodeErrors, res.body);
  }
  if (res.status !== 200 || !isObject(res.body)) {
    inFlight.drop(tracked);
    throw backendUnavailable(`ComfyUI backend ${backend.name} answered HTTP ${res.status} to the prompt`, {
      headers: retryAfter(),
    });
  }
  tracked.submitting = false;
  tracked.lastNewsAt = tracked.lastFrameAt = Date.now();
  // Until the next `status` frame, count this prompt so quick successive picks spread out.
  if (backend.statusSeq === statusSeq) backend.queueRemaining = ahead + 1;
  return { tracked, position: ahead };
}

const resetWhileIdle = (error: unknown): boolean => error instanceof Error && staleSocket(error.cause);

const timedOut = (error: unknown): boolean => error instanceof Error && error.cause instanceof Error && error.cause.name === 'TimeoutError';

async function acceptedAnyway(backend: Tracked['backend'], promptId: string): Promise<boolean> {
  try {
    const found = (await lookupPrompts(backend, [promptId])).get(promptId);
    return found !== undefined && found.state !== 'unknown';
  } catch {
    return false;
  }
}
