import type { Graph } from '../../contracts/graph.js';
import type { Transport } from '../../contracts/transport.js';
import type { Workflow } from '../../plugins/workflows/api.js';

/**
 * The graph a warm-up runs on `backend`: the workflow's graph (its defaults) with the manifest's
 * `warmup.inputs` set over it, and every image input that names a file shipped with the workflow
 * put on the backend first, as a client's run does (ComfyUI reads images only from its input folder).
 */
export async function warmupGraph(
  transport: Pick<Transport, 'upload'>,
  workflow: Workflow,
  backend: string,
  contentTypeFor: (name: string) => string,
): Promise<Graph> {
  // Plain JSON: a round trip copies it, so the registry's graph is never changed.
  const graph = JSON.parse(JSON.stringify(workflow.graph)) as Graph;
  for (const [key, value] of Object.entries(workflow.warmup?.inputs ?? {})) {
    const [node, input] = split(key);
    // Checked against the graph when the manifest was loaded.
    if (graph[node]) graph[node].inputs[input] = value;
  }
  for (const [key, meta] of Object.entries(workflow.inputs)) {
    if (meta.kind !== 'image') continue;
    const [node, input] = split(key);
    const name = graph[node]?.inputs[input];
    const path = typeof name === 'string' ? workflow.shippedFilePaths?.[name] : undefined;
    if (typeof name !== 'string' || path === undefined) continue;
    graph[node]!.inputs[input] = await transport.upload(backend, { path, name, contentType: contentTypeFor(name) });
  }
  return graph;
}

const split = (key: string): [string, string] => {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
};
