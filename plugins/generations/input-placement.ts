import { basename } from 'node:path';
import type { Graph } from '../../contracts/graph.js';
import { badRequest } from '../../core/errors.js';
import { contentTypeFor } from './content-types.js';
import type { GenerationContext } from './generation-context.js';
import type { LiveGeneration } from './live-generation.js';

const shippedFile = (path: string) => ({ path, name: basename(path), contentType: contentTypeFor(basename(path), null) });

/** A graph is plain JSON; a JSON round trip copies it several times faster than structuredClone. */
export const cloneGraph = (graph: Graph): Graph => JSON.parse(JSON.stringify(graph)) as Graph;

/**
 * Puts each stored upload and each shipped workflow file on `backend` and points its graph input at
 * the name ComfyUI gave it (ComfyUI reads images only from its own input folder).
 */
export async function placeInputs(
  ctx: GenerationContext,
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
      remote = await ctx.deps.transport.upload(backend, upload ? await uploadFile(ctx, key, name) : shippedFile(name));
      placed.set(name, remote);
    }
    node.inputs = { ...node.inputs, [key.slice(slash + 1)]: remote };
  }
}

async function uploadFile(ctx: GenerationContext, key: string, name: string): Promise<{ path: string; name: string; contentType: string }> {
  const uploads = ctx.deps.uploads;
  if (!uploads) throw badRequest(`input ${key} names an upload, but uploads are not enabled on this bridge`);
  const record = await ctx.deps.storage.uploads.get(name);
  return { path: uploads.pathOf(name), name, contentType: record?.contentType ?? contentTypeFor(name, null) };
}

export function markUploadsUsed(ctx: GenerationContext, live: LiveGeneration): void {
  const uploads = ctx.deps.uploads;
  if (!uploads) return;
  for (const name of live.gen.uploads) {
    void uploads.markUsed(name, live.gen.id).catch((error: unknown) => live.log.warn({ err: error, upload: name }, 'could not mark upload used'));
  }
}
