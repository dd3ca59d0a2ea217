import type { Graph } from '../../contracts/graph.js';

/** Output classes of core ComfyUI and common packs, for when /object_info cannot answer. */
export const KNOWN_OUTPUT_CLASSES: ReadonlySet<string> = new Set([
  'SaveImage',
  'PreviewImage',
  'SaveAnimatedWEBP',
  'SaveAnimatedPNG',
  'SaveVideo',
  'SaveWEBM',
  'SaveAudio',
  'SaveAudioMP3',
  'SaveAudioOpus',
  'PreviewAudio',
  'SaveLatent',
  'SaveGLB',
  'Preview3D',
  'PreviewAny',
  'SaveImageWebsocket',
  'VHS_VideoCombine',
]);

export type ObjectInfo = (classType: string) => Promise<Record<string, unknown> | undefined>;

/**
 * Which node classes are output nodes, asking the backend's /object_info (cached in `known`) and
 * falling back to KNOWN_OUTPUT_CLASSES for classes it cannot answer about in time.
 */
export async function outputClasses(
  classes: Iterable<string>,
  objectInfo: ObjectInfo,
  known: Map<string, boolean>,
  timeoutMs: number,
): Promise<Set<string>> {
  const unknown = [...new Set(classes)].filter((c) => !known.has(c));
  if (unknown.length > 0 && timeoutMs > 0) {
    const asks = Promise.all(
      unknown.map(async (classType) => {
        try {
          const info = await objectInfo(classType);
          if (info) known.set(classType, info.output_node === true);
        } catch {
          // No answer: the fallback list decides for this class.
        }
      }),
    );
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([asks, deadline]);
    clearTimeout(timer);
  }
  const result = new Set<string>();
  for (const classType of new Set(classes)) {
    if (known.get(classType) ?? KNOWN_OUTPUT_CLASSES.has(classType)) result.add(classType);
  }
  return result;
}

/** A link input is [sourceNodeId, outputIndex]. */
function linkedNode(value: unknown): string | undefined {
  if (Array.isArray(value) && value.length === 2 && (typeof value[0] === 'string' || typeof value[0] === 'number') && typeof value[1] === 'number') {
    return String(value[0]);
  }
  return undefined;
}

/**
 * The nodes ComfyUI will run: the output nodes and everything they depend on. With no output node
 * recognised, every node (ComfyUI would refuse such a graph anyway, so the count does not matter).
 */
export function nodesToRun(graph: Graph, outputs: ReadonlySet<string>): Set<string> {
  const ids = Object.keys(graph);
  const pending = ids.filter((id) => outputs.has(graph[id]!.class_type));
  if (pending.length === 0) return new Set(ids);
  const seen = new Set<string>();
  while (pending.length > 0) {
    const id = pending.pop()!;
    if (seen.has(id) || !graph[id]) continue;
    seen.add(id);
    for (const value of Object.values(graph[id].inputs ?? {})) {
      const source = linkedNode(value);
      if (source !== undefined && !seen.has(source)) pending.push(source);
    }
  }
  return seen;
}
