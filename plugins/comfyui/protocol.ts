import type { OutputRef } from '../../contracts/transport.js';
import { isPlainObject as isObject } from '../../lib/objects.js';

/** What a backend knows of a prompt, in short (ComfyTransport.lookup). */
export type PromptLookup =
  | { state: 'queued' | 'running' | 'unknown' }
  | { state: 'completed'; outputs: OutputRef[] }
  | { state: 'failed'; message: string; node: string | null }
  | { state: 'interrupted' };

/**
 * Pure readers of ComfyUI 0.3.x payloads (see the captures in test/fixtures/comfyui-protocol/). Everything coming
 * from the wire is `unknown` until checked here, so a surprising payload is ignored instead of
 * crashing the socket handler.
 */

type Json = Record<string, unknown>;

export { isObject };

function str(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function isFileItem(value: unknown): value is { filename: string; subfolder?: unknown; type?: unknown } {
  return isObject(value) && typeof value.filename === 'string';
}

/**
 * Output files of one node's output dict: every key whose value is a list of {filename, subfolder,
 * type} ("images", "gifs", "audio", ...); other keys ("animated": [false], "text": ["..."]) are not files.
 */
export function outputsOfNode(node: string, output: unknown): OutputRef[] {
  if (!isObject(output)) return [];
  const refs: OutputRef[] = [];
  for (const [kind, items] of Object.entries(output)) {
    if (!Array.isArray(items)) continue;
    for (const item of items) {
      if (!isFileItem(item)) continue;
      refs.push({
        node,
        kind,
        filename: item.filename,
        subfolder: str(item.subfolder) ?? '',
        type: str(item.type) ?? 'output',
      });
    }
  }
  return refs;
}

/** All output files of a history entry's `outputs` ({node id: output dict}). */
export function outputsOfHistory(outputs: unknown): OutputRef[] {
  if (!isObject(outputs)) return [];
  return Object.entries(outputs).flatMap(([node, output]) => outputsOfNode(node, output));
}

export type HistoryVerdict =
  | { state: 'completed'; outputs: OutputRef[] }
  | {
      state: 'failed';
      message: string;
      node: string | null;
      nodeType: string | null;
      exceptionType: string | null;
    }
  | { state: 'interrupted'; node: string | null }
  /** Present but not finished (real ComfyUI writes history only when a prompt ends). */
  | { state: 'pending' };

/**
 * Reads one entry of GET /history/{id}. ComfyUI marks an interrupted prompt `status_str: "error"`
 * too; only the `execution_interrupted` message in `status.messages` tells the two apart.
 */
export function readHistoryEntry(entry: unknown): HistoryVerdict {
  if (!isObject(entry)) return { state: 'pending' };
  const status = isObject(entry.status) ? entry.status : {};
  const messages = Array.isArray(status.messages) ? status.messages : [];
  for (const message of messages) {
    if (!Array.isArray(message) || !isObject(message[1])) continue;
    const data = message[1];
    if (message[0] === 'execution_interrupted') return { state: 'interrupted', node: str(data.node_id) };
    if (message[0] === 'execution_error') {
      return {
        state: 'failed',
        message: str(data.exception_message)?.trim() || 'the prompt failed on the backend',
        node: str(data.node_id),
        nodeType: str(data.node_type),
        exceptionType: str(data.exception_type),
      };
    }
  }
  if (status.status_str === 'error') {
    return { state: 'failed', message: 'the prompt failed on the backend', node: null, nodeType: null, exceptionType: null };
  }
  if (status.completed === true || status.status_str === 'success') {
    return { state: 'completed', outputs: outputsOfHistory(entry.outputs) };
  }
  return { state: 'pending' };
}

/** What a backend knows of a prompt, with the details the transport's events need. */
export type Found = { state: 'queued' | 'running' | 'unknown' } | Exclude<HistoryVerdict, { state: 'pending' }>;

/** A history entry that exists but is not finished is still running. */
export function foundInHistory(entry: unknown): Found {
  const verdict = readHistoryEntry(entry);
  return verdict.state === 'pending' ? { state: 'running' } : verdict;
}

export function toLookup(found: Found): PromptLookup {
  switch (found.state) {
    case 'completed':
      return { state: 'completed', outputs: found.outputs };
    case 'failed':
      return { state: 'failed', message: found.message, node: found.node };
    case 'interrupted':
      return { state: 'interrupted' };
    default:
      return { state: found.state };
  }
}

/** Where GET /queue places a prompt. Items are [number, prompt_id, prompt, extra_data, outputs]. */
/**
 * Every prompt of a GET /queue answer with its place, read once: asking queuePlace for each of n
 * in-flight prompts would walk a queue of n entries n times (a reconciliation with thousands queued).
 */
export function queuePlaces(queue: unknown): Map<string, 'running' | 'pending'> {
  const places = new Map<string, 'running' | 'pending'>();
  if (!isObject(queue)) return places;
  const add = (list: unknown, place: 'running' | 'pending') => {
    if (!Array.isArray(list)) return;
    for (const item of list) if (Array.isArray(item) && typeof item[1] === 'string' && !places.has(item[1])) places.set(item[1], place);
  };
  add(queue.queue_running, 'running');
  add(queue.queue_pending, 'pending');
  return places;
}

export function queuePlace(queue: unknown, promptId: string): 'running' | 'pending' | 'absent' {
  if (!isObject(queue)) return 'absent';
  const has = (list: unknown): boolean => Array.isArray(list) && list.some((item) => Array.isArray(item) && item[1] === promptId);
  if (has(queue.queue_running)) return 'running';
  if (has(queue.queue_pending)) return 'pending';
  return 'absent';
}

/**
 * Reads GET /api/jobs/{id} (newer ComfyUI): status pending | in_progress | completed | failed, and
 * in later releases cancelled. A finished job carries its history pieces (execution_status, outputs).
 */
export function readJob(job: unknown): Found {
  if (!isObject(job)) return { state: 'unknown' };
  if (job.status === 'pending') return { state: 'queued' };
  if (job.status === 'in_progress') return { state: 'running' };
  const status = isObject(job.execution_status) ? job.execution_status : statusFromJob(job);
  const verdict = readHistoryEntry({ status, outputs: job.outputs });
  if (verdict.state !== 'pending') return verdict;
  return { state: 'unknown' };
}

function statusFromJob(job: Json): Json {
  const error = isObject(job.execution_error) ? job.execution_error : null;
  const messages: unknown[] = [];
  if (job.status === 'cancelled') messages.push(['execution_interrupted', {}]);
  else if (error) messages.push(['execution_error', error]);
  return {
    status_str: job.status === 'completed' ? 'success' : job.status === 'failed' || job.status === 'cancelled' ? 'error' : null,
    completed: job.status === 'completed',
    messages,
  };
}

interface ComfyError {
  type?: unknown;
  message?: unknown;
  details?: unknown;
  extra_info?: unknown;
}

function describeError(error: ComfyError): string {
  const message = str(error.message) ?? str(error.type) ?? 'invalid';
  const details = str(error.details);
  const input = isObject(error.extra_info) ? str(error.extra_info.input_name) : null;
  // `details` often just repeats the input name ("images"); add it only when it says more.
  return details && details !== input ? `${message}: ${details}` : message;
}

/**
 * A readable sentence from POST /prompt's 400 body, naming node, class and input:
 * `node 3 (KSampler) input "steps": Value 1000 bigger than max of 100`.
 */
export function describeRejection(body: unknown): string {
  if (!isObject(body)) return 'ComfyUI rejected the graph';
  const parts: string[] = [];
  if (isObject(body.node_errors)) {
    for (const [node, entry] of Object.entries(body.node_errors)) {
      if (!isObject(entry)) continue;
      const classType = str(entry.class_type);
      const errors = Array.isArray(entry.errors) ? entry.errors : [];
      for (const error of errors) {
        if (!isObject(error)) continue;
        const input = isObject(error.extra_info) ? str(error.extra_info.input_name) : null;
        const where = `node ${node}${classType ? ` (${classType})` : ''}${input ? ` input "${input}"` : ''}`;
        parts.push(`${where}: ${describeError(error)}`);
      }
    }
  }
  if (parts.length === 0 && isObject(body.error)) {
    const message = str(body.error.message) ?? 'ComfyUI rejected the graph';
    const details = str(body.error.details);
    parts.push(details && !message.includes(details) ? `${message} (${details})` : message);
  }
  return parts.length > 0 ? parts.join('; ') : 'ComfyUI rejected the graph';
}
