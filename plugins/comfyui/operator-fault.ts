import type { ModelInputs } from './capabilities.js';
import { isObject } from './protocol.js';

/**
 * What, in ComfyUI's node_errors for a refused graph, the backend lacks rather than the client got
 * wrong: a model input whose file is not on this backend ("value_not_in_list" on a model input).
 * [] when the refusal is about anything else (then it stays the client's 400).
 */
export function operatorFault(nodeErrors: Record<string, unknown>, modelInputs: ModelInputs): string[] {
  const missing: string[] = [];
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
