import type { Graph } from '../../contracts/graph.js';
import type { InputType, WorkflowInput } from '../../plugins/workflows/api.js';
import { WorkflowFileError } from './errors.js';
import type { ManifestInput, WorkflowManifest } from './manifest.js';
import { apiInputNames, isLink } from './parse-graph.js';

/** Node inputs that take a file from ComfyUI's input folder, i.e. an uploaded image. */
const IMAGE_INPUTS: Record<string, readonly string[]> = {
  LoadImage: ['image'],
  LoadImageMask: ['image'],
};

export const isImageInput = (classType: string, inputName: string): boolean =>
  IMAGE_INPUTS[classType]?.includes(inputName) ?? false;

/** The type of a default value as the seed names it (str, int, float, bool); null if it has none of these. */
export function typeOfValue(value: unknown): InputType | null {
  switch (typeof value) {
    case 'string':
      return 'str';
    case 'boolean':
      return 'bool';
    case 'number':
      if (!Number.isFinite(value)) return null;
      return Number.isInteger(value) ? 'int' : 'float';
    default:
      return null;
  }
}

/**
 * The manifest may only sharpen the type, never contradict the value: JSON writes 8.0 as `8`, so a
 * float input whose default is integral reads as int unless the manifest says `type: float`.
 */
function reconcileType(fromValue: InputType, declared: InputType | undefined, key: string, file: string): InputType {
  if (declared === undefined || declared === fromValue) return fromValue;
  if (fromValue === 'int' && declared === 'float') return 'float';
  throw new WorkflowFileError(file, `designated input "${key}": manifest type "${declared}" does not match its default value (${fromValue})`);
}

function checkDefaultFits(input: WorkflowInput, key: string, file: string): void {
  const value = input.default;
  if (typeof value === 'number') {
    if (input.min !== undefined && value < input.min) {
      throw new WorkflowFileError(file, `designated input "${key}": default ${value} is below min ${input.min}`);
    }
    if (input.max !== undefined && value > input.max) {
      throw new WorkflowFileError(file, `designated input "${key}": default ${value} is above max ${input.max}`);
    }
  }
  if (input.options !== undefined && !input.options.includes(value)) {
    throw new WorkflowFileError(file, `designated input "${key}": default ${JSON.stringify(value)} is not one of its options`);
  }
}

function describeInput(graph: Graph, key: string, meta: ManifestInput | undefined, file: string): WorkflowInput {
  const slash = key.indexOf('/');
  const nodeId = key.slice(0, slash);
  const inputName = key.slice(slash + 1);
  if (slash <= 0 || inputName === '') {
    throw new WorkflowFileError(file, `designated input "${key}" is not of the form "<node id>/<input name>"`);
  }
  const node = Object.hasOwn(graph, nodeId) ? graph[nodeId] : undefined;
  if (!node) {
    throw new WorkflowFileError(file, `designated input "${key}": the graph has no node "${nodeId}"`);
  }
  if (!Object.hasOwn(node.inputs, inputName)) {
    throw new WorkflowFileError(
      file,
      `designated input "${key}": node "${nodeId}" (${node.class_type}) has no input "${inputName}" (it has: ${Object.keys(node.inputs).join(', ') || 'none'})`,
    );
  }
  const value = node.inputs[inputName];
  if (isLink(value)) {
    throw new WorkflowFileError(
      file,
      `designated input "${key}" is linked to the output of node "${String((value as unknown[])[0])}"; only inputs with a literal value can be designated`,
    );
  }
  const fromValue = typeOfValue(value);
  if (fromValue === null) {
    throw new WorkflowFileError(file, `designated input "${key}": its value in the graph is not a string, number or boolean`);
  }
  const title = meta?.title ?? (typeof node._meta?.title === 'string' && node._meta.title !== '' ? node._meta.title : node.class_type);
  const input: WorkflowInput = {
    type: reconcileType(fromValue, meta?.type, key, file),
    title,
    class: node.class_type,
    default: value,
  };
  if (meta?.description !== undefined) input.description = meta.description;
  if (meta?.min !== undefined) input.min = meta.min;
  if (meta?.max !== undefined) input.max = meta.max;
  if (meta?.step !== undefined) input.step = meta.step;
  if (meta?.options !== undefined) input.options = meta.options;
  if (meta?.multiline !== undefined) input.multiline = meta.multiline;
  if (meta?.kind === 'image' || isImageInput(node.class_type, inputName)) input.kind = 'image';
  if (input.kind === 'image' && input.type !== 'str') {
    throw new WorkflowFileError(file, `designated input "${key}" is marked as an image but its default is not a file name`);
  }
  checkDefaultFits(input, key, file);
  return input;
}

/**
 * The designated inputs of a graph: those named in `_meta.apiinput` (graph order) merged with the
 * manifest's `inputs` (which may add more, and whose metadata wins), keyed "<node id>/<input name>".
 */
export function buildInputs(
  graph: Graph,
  manifest: WorkflowManifest,
  graphFile: string,
  manifestFile?: string,
): Record<string, WorkflowInput> {
  const keys: string[] = [];
  for (const [nodeId, node] of Object.entries(graph)) {
    for (const name of apiInputNames(node, nodeId, graphFile)) keys.push(`${nodeId}/${name}`);
  }
  const fromManifest = Object.keys(manifest.inputs ?? {});
  keys.push(...fromManifest);

  const inputs: Record<string, WorkflowInput> = {};
  for (const key of new Set(keys)) {
    // Blame the file the operator has to edit: the manifest when it names the input.
    const file = manifestFile !== undefined && fromManifest.includes(key) ? manifestFile : graphFile;
    inputs[key] = describeInput(graph, key, manifest.inputs?.[key], file);
  }
  return inputs;
}
