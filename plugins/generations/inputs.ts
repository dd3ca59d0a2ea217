import { basename } from 'node:path';
import type { Graph } from '../../contracts/graph.js';
import type { Transport } from '../../contracts/transport.js';
import type { UploadService } from '../../plugins/upload/api.js';
import { badRequest } from '../../core/errors.js';
import type { ResultStore } from '../../plugins/results/api.js';
import { nodesToRun, outputClasses } from './nodes-to-run.js';

/** A graph is plain JSON; a JSON round trip copies it several times faster than structuredClone. */
export const cloneGraph = (graph: Graph): Graph => JSON.parse(JSON.stringify(graph)) as Graph;

/**
 * Puts each stored upload and each shipped workflow file on `backend` and points its graph input at
 * the name ComfyUI gave it (ComfyUI reads images only from its own input folder).
 */
export async function placeInputs(
  deps: { transport: Transport; uploads: UploadService | undefined; results: Pick<ResultStore, 'contentTypeFor'> },
  graph: Graph,
  uploadInputs: Record<string, string>,
  shippedInputs: Record<string, string>,
  backend: string,
): Promise<void> {
  const placed = new Map<string, string>();
  const files = Object.entries(uploadInputs).map(([key, name]) => ({ key, name, upload: true }));
  files.push(...Object.entries(shippedInputs).map(([key, path]) => ({ key, name: path, upload: false })));
  for (const { key, name, upload } of files) {
    const slash = key.indexOf('/');
    const node = slash > 0 ? graph[key.slice(0, slash)] : undefined;
    if (!node) throw badRequest(`input ${key} does not name a node of the workflow`);
    let remote = placed.get(name);
    if (remote === undefined) {
      if (upload && !deps.uploads) throw badRequest(`input ${key} names an upload, but uploads are not enabled on this bridge`);
      // Stored uploads keep their extension, which gives the type; the upload service owns their files.
      const path = upload ? deps.uploads!.pathOf(name) : name;
      const fileName = upload ? name : basename(name);
      remote = await deps.transport.upload(backend, { path, name: fileName, contentType: deps.results.contentTypeFor(fileName) });
      placed.set(name, remote);
    }
    node.inputs = { ...node.inputs, [key.slice(slash + 1)]: remote };
  }
}

/** How many nodes ComfyUI will run (the denominator of percent), asking the transport which classes are outputs. */
export async function countNodesToRun(transport: Transport, graph: Graph, timeoutMs: number): Promise<number> {
  const classes = Object.values(graph).map((node) => node.class_type);
  const outputs = await outputClasses(classes, (classType) =>
    timeoutMs > 0 ? transport.objectInfo(classType, timeoutMs) : Promise.resolve(undefined),
  );
  return nodesToRun(graph, outputs).size;
}
