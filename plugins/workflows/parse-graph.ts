import type { Graph, GraphNode } from '../../contracts/graph.js';
import { isPlainObject } from '../../lib/objects.js';
import { WorkflowFileError } from './errors.js';

/**
 * Parses a graph file and checks it is ComfyUI's API format ("Save (API)"): an object of
 * node id → {class_type, inputs}. The UI format (the regular "Save") has `nodes`/`links` arrays
 * and cannot be submitted to /prompt, so it gets its own hint.
 */
export function parseGraph(text: string, file: string): Graph {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new WorkflowFileError(file, `not valid JSON (${(error as Error).message})`);
  }
  if (!isPlainObject(data)) {
    throw new WorkflowFileError(file, 'not an API-format workflow: expected a JSON object of node id → node');
  }
  if (Array.isArray(data.nodes) || Array.isArray(data.links)) {
    throw new WorkflowFileError(
      file,
      'this is the ComfyUI UI format (it has "nodes"/"links" arrays); export it with "Save (API)" instead',
    );
  }
  if (isPlainObject(data.prompt) && Object.keys(data).length <= 2) {
    throw new WorkflowFileError(file, 'this looks like a /prompt request body; save only the graph (the value of "prompt")');
  }
  const ids = Object.keys(data);
  if (ids.length === 0) {
    throw new WorkflowFileError(file, 'the graph has no nodes');
  }
  for (const id of ids) {
    const node = data[id];
    if (!isPlainObject(node) || typeof node.class_type !== 'string' || node.class_type === '' || !isPlainObject(node.inputs)) {
      throw new WorkflowFileError(file, `node "${id}" is not an API-format node (expected {"class_type": string, "inputs": {...}})`);
    }
    if (node._meta !== undefined && !isPlainObject(node._meta)) {
      throw new WorkflowFileError(file, `node "${id}" has a "_meta" that is not an object`);
    }
  }
  return data as unknown as Graph;
}

/** A value in an API-format graph that is a link to another node's output: ["<node id>", <output index>]. */
export const isLink = (value: unknown): boolean =>
  Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'number';

/**
 * Input names listed in a node's `_meta.apiinput`: a comma-separated string, as the original
 * bridge's ComfyUI patch writes it (an array of names is accepted too, for hand-written graphs).
 */
export function apiInputNames(node: GraphNode, nodeId: string, file: string): string[] {
  const raw: unknown = node._meta?.apiinput;
  if (raw === undefined || raw === null) return [];
  const names = typeof raw === 'string' ? raw.split(',') : Array.isArray(raw) && raw.every((n) => typeof n === 'string') ? raw : null;
  if (names === null) {
    throw new WorkflowFileError(file, `node "${nodeId}" has a "_meta.apiinput" that is not a comma-separated string of input names`);
  }
  return names.map((name) => name.trim()).filter((name) => name !== '');
}
