import type { WorkflowInput } from '../../plugins/workflows/api.js';
import { isPlainObject as isObject } from '../../lib/objects.js';

/** What /object_info can add to a designated input. */
export type Constraints = Pick<WorkflowInput, 'description' | 'min' | 'max' | 'step' | 'options' | 'multiline' | 'kind'> & {
  /** FLOAT inputs whose graph default is integral (JSON writes 8.0 as 8) are floats all the same. */
  float?: boolean;
};

/**
 * The node definition for `classType`, whether the transport hands back the inner definition or
 * the `/object_info/<class>` body that wraps it under the class name.
 */
export function nodeDefinition(info: Record<string, unknown> | undefined, classType: string): Record<string, unknown> | undefined {
  if (!isObject(info)) return undefined;
  if (isObject(info.input)) return info;
  const inner = info[classType];
  return isObject(inner) && isObject(inner.input) ? inner : undefined;
}

/**
 * Reads one input's spec from a V1/V3 node definition:
 * `input.required|optional.<name> = [TYPE | [choices...], {min, max, step, default, multiline, tooltip}]`,
 * where a COMBO is either a list as the first element or "COMBO" with `{options: [...]}`.
 */
export function constraintsFor(definition: Record<string, unknown>, inputName: string): Constraints {
  const input = definition.input as Record<string, unknown>;
  let spec: unknown;
  for (const section of ['required', 'optional']) {
    const group = input[section];
    if (isObject(group) && Object.hasOwn(group, inputName)) {
      spec = group[inputName];
      break;
    }
  }
  if (!Array.isArray(spec) || spec.length === 0) return {};
  const [kind, rawOptions] = spec as [unknown, unknown];
  const options = isObject(rawOptions) ? rawOptions : {};
  const found: Constraints = {};

  // An upload combo lists every file in ComfyUI's input folder (other users' uploads): never expose it.
  if (options.image_upload === true) {
    found.kind = 'image';
  } else if (Array.isArray(kind)) {
    if (kind.length > 0) found.options = kind;
  } else if (kind === 'COMBO' && Array.isArray(options.options) && options.options.length > 0) {
    found.options = options.options;
  }
  if (kind === 'INT' || kind === 'FLOAT') {
    for (const key of ['min', 'max', 'step'] as const) {
      const value = options[key];
      if (typeof value === 'number' && Number.isFinite(value)) found[key] = value;
    }
    if (found.step !== undefined && found.step <= 0) delete found.step;
  }
  if (kind === 'FLOAT') found.float = true;
  if (kind === 'STRING' && typeof options.multiline === 'boolean') found.multiline = options.multiline;
  if (typeof options.tooltip === 'string' && options.tooltip !== '') found.description = options.tooltip;
  return found;
}

/**
 * Merges backend constraints under what the operator wrote: values from the graph (type, title,
 * class, default) and from the manifest always win; object_info only fills the gaps.
 */
export function enrichInput(input: WorkflowInput, constraints: Constraints): WorkflowInput {
  const { float, ...rest } = constraints;
  const merged: WorkflowInput = { ...input };
  if (merged.kind === 'image') delete rest.options;
  for (const [key, value] of Object.entries(rest) as [keyof typeof rest, unknown][]) {
    if (merged[key] === undefined && value !== undefined) (merged as unknown as Record<string, unknown>)[key] = value;
  }
  if (float === true && merged.type === 'int') merged.type = 'float';
  return merged;
}
