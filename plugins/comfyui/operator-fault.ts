import type { ModelInputs } from './capabilities.js';
import { isObject } from './protocol.js';

/**
 * What, in ComfyUI's refusal of a graph, the backend lacks rather than the client got wrong: a
 * model input whose file is not on this backend ("value_not_in_list" on a model input in
 * `node_errors`), or a node class it does not have (the top-level `error` of the whole answer,
 * `rejection`). [] when the refusal is about anything else (then it stays the client's 400).
 */
export function operatorFault(nodeErrors: Record<string, unknown>, modelInputs: ModelInputs, rejection?: unknown): string[] {
  const missing: string[] = [];
  const missingClass = missingNodeClass(rejection);
  if (missingClass !== undefined) missing.push(`node class ${missingClass}`);
  for (const entry of Object.values(nodeErrors)) {
    if (!isObject(entry) || typeof entry.class_type !== 'string' || !Array.isArray(entry.errors)) continue;
    for (const error of entry.errors) {
      if (!isObject(error) || error.type !== 'value_not_in_list' || !isObject(error.extra_info)) continue;
      const { input_name: input, received_value: value } = error.extra_info;
      if (typeof input === 'string' && modelInputs.get(entry.class_type)?.has(input)) {
        missing.push(`model file ${String(value)} (${entry.class_type}.${input})`);
      }
    }
  }
  return missing;
}

/** 0.3.64: `invalid_prompt`, "Cannot execute because node X does not exist." (test/fixtures/comfyui-protocol). */
const UNKNOWN_CLASS = /^Cannot execute because node (.+) does not exist\.$/;

/**
 * The node class ComfyUI says it does not have, from its answer to POST /prompt: 0.3.64 names it
 * only in the message of an `invalid_prompt` error; later releases send `missing_node_type` with
 * the class in `extra_info.class_type`. A node without any class_type is not this (the graph is broken).
 */
function missingNodeClass(rejection: unknown): string | undefined {
  if (!isObject(rejection) || !isObject(rejection.error)) return undefined;
  const { type, message, extra_info: extra } = rejection.error;
  if (type === 'missing_node_type' && isObject(extra) && typeof extra.class_type === 'string') return extra.class_type;
  if (type !== 'invalid_prompt' && type !== 'missing_node_type') return undefined;
  const named = typeof message === 'string' ? UNKNOWN_CLASS.exec(message) : null;
  return named?.[1];
}
