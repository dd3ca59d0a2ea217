import { setTimeout as sleep } from 'node:timers/promises';
import type { BackendConnection } from './backend-connection.js';
import type { Tracked } from './in-flight-prompts.js';
import { endingOf } from './prompt-endings.js';
import { foundInHistory, isObject, outputsOfNode } from './protocol.js';
import type { TransportContext } from './transport-context.js';

const PROGRESS_STATE_PREFIX = '{"type": "progress_state"';

/** After execution_success, real ComfyUI writes history a moment later (task_done runs after execute). */
const HISTORY_RETRY_DELAYS_MS = [0, 50, 100, 200, 400, 800, 1600];

/** Maps one websocket text frame of `backend` to transport events (hot path: one JSON.parse, one Map lookup). */
export function mapFrame(ctx: TransportContext, backend: BackendConnection, text: string): void {
  // progress_state repeats every node's state on every change (quadratic over a prompt) and the
  // contract has no use for it: skip it before parsing. Python's json.dumps puts "type" first.
  if (text.startsWith(PROGRESS_STATE_PREFIX)) return;
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return;
  }
  if (!isObject(message) || !isObject(message.data)) return;
  const data = message.data;
  if (message.type === 'status') {
    const status = isObject(data.status) ? data.status : undefined;
    const remaining = status && isObject(status.exec_info) ? status.exec_info.queue_remaining : undefined;
    if (typeof remaining === 'number') {
      backend.queueRemaining = remaining;
      backend.statusSeq += 1;
    }
    return;
  }
  const promptId = data.prompt_id;
  if (typeof promptId !== 'string') return; // e.g. the `executing` replay after a reconnect has none
  const { inFlight } = ctx;
  const tracked = inFlight.get(promptId);
  if (!tracked) return;
  tracked.lastNewsAt = tracked.lastFrameAt = Date.now();
  const base = { promptId, backend: tracked.backend.name };
  switch (message.type) {
    case 'execution_start':
      inFlight.report(tracked, { type: 'started', ...base });
      return;
    case 'execution_cached':
      inFlight.report(tracked, { type: 'cached', ...base, nodes: Array.isArray(data.nodes) ? data.nodes.map(String) : [] });
      return;
    case 'executing':
      // node null follows the end of the prompt; completion comes from execution_success.
      if (typeof data.node === 'string') inFlight.report(tracked, { type: 'executing', ...base, node: data.node });
      return;
    case 'progress':
      if (typeof data.node === 'string' && typeof data.value === 'number' && typeof data.max === 'number') {
        inFlight.report(tracked, { type: 'progress', ...base, node: data.node, value: data.value, max: data.max });
      }
      return;
    case 'executed': {
      if (typeof data.node !== 'string') return;
      const outputs = outputsOfNode(data.node, data.output);
      tracked.seenOutputs.push(...outputs);
      inFlight.report(tracked, { type: 'executed', ...base, node: data.node, outputs });
      return;
    }
    case 'execution_success':
      if (tracked.settling) return;
      tracked.settling = true;
      void settleFromHistory(ctx, tracked);
      return;
    case 'execution_error':
      inFlight.finish(tracked, {
        type: 'failed',
        node: typeof data.node_id === 'string' ? data.node_id : null,
        nodeType: typeof data.node_type === 'string' ? data.node_type : null,
        exceptionType: typeof data.exception_type === 'string' ? data.exception_type : null,
        message:
          typeof data.exception_message === 'string' && data.exception_message.trim()
            ? data.exception_message.trim()
            : 'the prompt failed on the backend',
      });
      return;
    case 'execution_interrupted':
      inFlight.finish(tracked, { type: 'interrupted', node: typeof data.node_id === 'string' ? data.node_id : null });
      return;
    default:
      return; // progress_state and others carry nothing the contract needs
  }
}

/** History is the source of truth for the outputs (every output node, cached ones included). */
async function settleFromHistory(ctx: TransportContext, tracked: Tracked): Promise<void> {
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
