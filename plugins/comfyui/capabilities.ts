import type { Graph } from '../../contracts/graph.js';
import { isObject } from './protocol.js';

/**
 * What one backend can run, learnt from its whole GET /object_info: the node classes it has and,
 * for every model-file input (a combo of file names, e.g. CheckpointLoaderSimple.ckpt_name), the
 * files it offers. Routing asks this many times per second, so the answer is kept as Sets.
 */
export interface BackendCapabilities {
  classes: ReadonlySet<string>;
  /** "<class>.<input>" → the files that input accepts on this backend. */
  models: ReadonlyMap<string, ReadonlySet<string>>;
  /** When it was learnt (ms since epoch). */
  at: number;
}

/** What a graph needs of a backend. */
export interface GraphNeeds {
  classes: string[];
  /** The model files it names, each with the input that names it. */
  models: { input: string; file: string }[];
  /** The model files alone, sorted and joined: the affinity key ("" when it names none). */
  modelKey: string;
}

/** File names a model folder holds; a combo of these is a model input, not a plain enum. */
const MODEL_FILE = /\.(safetensors|ckpt|pt|pth|bin|gguf|sft|onnx|pkl|pt2)$/i;

/** A combo's option list, in ComfyUI's old ([[...], {}]) or new (["COMBO", {options: [...]}]) shape. */
function comboOptions(spec: unknown): unknown[] | undefined {
  if (!Array.isArray(spec)) return undefined;
  if (Array.isArray(spec[0])) return spec[0] as unknown[];
  if (spec[0] === 'COMBO' && isObject(spec[1]) && Array.isArray(spec[1].options)) return spec[1].options as unknown[];
  return undefined;
}

/**
 * A model-file input: its options are model files, or (an empty folder lists nothing) a loader's
 * `*_name` combo. Plain enums (sampler_name, upscale_method) have neither.
 */
function isModelInput(classType: string, input: string, options: unknown[]): boolean {
  if (options.some((option) => typeof option === 'string' && MODEL_FILE.test(option))) return true;
  return options.length === 0 && /loader/i.test(classType) && input.endsWith('_name');
}

/** The capabilities in a GET /object_info answer (every class). */
export function parseCapabilities(all: Record<string, unknown>, at: number): BackendCapabilities {
  const classes = new Set<string>();
  const models = new Map<string, Set<string>>();
  for (const [classType, info] of Object.entries(all)) {
    classes.add(classType);
    if (!isObject(info) || !isObject(info.input)) continue;
    for (const group of [info.input.required, info.input.optional]) {
      if (!isObject(group)) continue;
      for (const [input, spec] of Object.entries(group)) {
        const options = comboOptions(spec);
        if (options && isModelInput(classType, input, options)) {
          models.set(`${classType}.${input}`, new Set(options.filter((o): o is string => typeof o === 'string')));
        }
      }
    }
  }
  return { classes, models, at };
}

/** Model inputs by node class: class → its inputs that take model files (on any backend). */
export type ModelInputs = ReadonlyMap<string, ReadonlySet<string>>;

/**
 * The needs of a graph: its node classes, and the string values of inputs that are model inputs on
 * any backend. Only the inputs of classes that have model inputs are looked at (the hot path).
 */
export function needsOf(graph: Graph, modelInputs: ModelInputs): GraphNeeds {
  const classes: string[] = [];
  const models: { input: string; file: string }[] = [];
  for (const id in graph) {
    const node = graph[id]!;
    if (!classes.includes(node.class_type)) classes.push(node.class_type);
    const inputs = modelInputs.get(node.class_type);
    if (!inputs) continue;
    for (const name of inputs) {
      const value = node.inputs[name];
      if (typeof value === 'string') models.push({ input: `${node.class_type}.${name}`, file: value });
    }
  }
  const modelKey = models.length === 0 ? '' : models.length === 1 ? models[0]!.file : [...new Set(models.map((m) => m.file))].sort().join('\n');
  return { classes, models, modelKey };
}

/** What `caps` lacks of `needs`, as sentences an operator can act on; [] when it can run it. */
export function lacks(caps: BackendCapabilities, needs: GraphNeeds): string[] {
  const missing: string[] = [];
  for (const classType of needs.classes) if (!caps.classes.has(classType)) missing.push(`node class ${classType}`);
  for (const { input, file } of needs.models) {
    const files = caps.models.get(input);
    // A missing class is already said; a class without this input is ComfyUI's to judge.
    if (files && !files.has(file)) missing.push(`model file ${file} (${input})`);
  }
  return missing;
}

/** The same check as `lacks`, without building messages: the routing hot path. */
export function canRun(caps: BackendCapabilities, needs: GraphNeeds): boolean {
  for (const classType of needs.classes) if (!caps.classes.has(classType)) return false;
  for (const { input, file } of needs.models) {
    const files = caps.models.get(input);
    if (files && !files.has(file)) return false;
  }
  return true;
}
