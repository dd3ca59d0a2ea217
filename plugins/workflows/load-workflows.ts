import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Workflow } from '../../plugins/workflows/api.js';
import { buildInputs } from './designate.js';
import { WorkflowFileError, type WorkflowLoadError } from './errors.js';
import { ALIAS_PATTERN, MANIFEST_SUFFIXES, parseManifest, type WorkflowManifest } from './manifest.js';
import { parseGraph } from './parse-graph.js';

export interface LoadResult {
  /** By alias, in file-name order. */
  workflows: Map<string, Workflow>;
  errors: WorkflowLoadError[];
}

/** Shipped example images and other files image inputs may name live here. */
export const ASSETS_FOLDER = 'assets';

/** A graph is small; anything bigger is a mistake (a model or an image saved as .json). */
const MAX_FILE_BYTES = 5 * 1024 * 1024;
const aliasRegExp = new RegExp(ALIAS_PATTERN);

const manifestBase = (name: string): string | undefined => {
  const suffix = MANIFEST_SUFFIXES.find((s) => name.endsWith(s));
  return suffix === undefined ? undefined : name.slice(0, -suffix.length);
};

async function readSmallText(dir: string, name: string): Promise<string> {
  const path = join(dir, name);
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new WorkflowFileError(name, 'not a regular file');
    if (info.size > MAX_FILE_BYTES) throw new WorkflowFileError(name, `too large (${info.size} bytes; the limit is ${MAX_FILE_BYTES})`);
    return await readFile(path, 'utf8');
  } catch (error) {
    if (error instanceof WorkflowFileError) throw error;
    throw new WorkflowFileError(name, `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Files in assets/ this workflow may use: the manifest's `files` (which must exist) and image defaults found there. */
async function shippedFiles(dir: string, manifest: WorkflowManifest, imageDefaults: string[], manifestFile: string | undefined) {
  const assets = join(dir, ASSETS_FOLDER);
  const paths: Record<string, string> = {};
  for (const name of manifest.files ?? []) {
    const path = join(assets, name);
    if (!(await isFile(path))) {
      throw new WorkflowFileError(manifestFile ?? '', `bad manifest: files lists "${name}", which is not in ${ASSETS_FOLDER}/`);
    }
    paths[name] = path;
  }
  for (const name of imageDefaults) {
    // A default naming a file that is not shipped may already be in ComfyUI's input folder: not an error.
    if (/^[^/\\\0]+$/.test(name) && name !== '.' && name !== '..' && (await isFile(join(assets, name)))) {
      paths[name] = join(assets, name);
    }
  }
  return paths;
}

async function loadOne(dir: string, graphName: string, manifestName: string | undefined): Promise<Workflow> {
  const graph = parseGraph(await readSmallText(dir, graphName), graphName);
  const manifest = manifestName ? parseManifest(await readSmallText(dir, manifestName), manifestName) : {};
  const alias = manifest.alias ?? graphName.slice(0, -'.json'.length);
  if (!aliasRegExp.test(alias)) {
    throw new WorkflowFileError(
      graphName,
      `"${alias}" is not a usable alias (letters, digits, ".", "_", "-"; at most 128): rename the file or set "alias" in a manifest`,
    );
  }
  const inputs = buildInputs(graph, manifest, graphName, manifestName);
  const imageDefaults = Object.values(inputs)
    .filter((input) => input.kind === 'image' && typeof input.default === 'string')
    .map((input) => input.default as string);
  const shippedFilePaths = await shippedFiles(dir, manifest, imageDefaults, manifestName);
  const warmup = warmupOf(graph, manifest, manifestName);
  return {
    alias,
    description: manifest.description ?? '',
    thumbnail: manifest.thumbnail ?? null,
    file: join(dir, graphName),
    graph,
    inputs,
    shippedFiles: Object.keys(shippedFilePaths),
    shippedFilePaths,
    ...(warmup ? { warmup } : {}),
  };
}

/** The manifest's warm-up mark, each input it sets checked against the graph (a typo would warm up nothing useful). */
function warmupOf(graph: Workflow['graph'], manifest: WorkflowManifest, manifestName: string | undefined): Workflow['warmup'] {
  if (manifest.warmup === undefined || manifest.warmup === false) return undefined;
  const inputs = manifest.warmup === true ? {} : (manifest.warmup.inputs ?? {});
  for (const key of Object.keys(inputs)) {
    const [node, input] = key.split('/') as [string, string];
    const present = graph[node]?.inputs;
    if (!present || !(input in present)) {
      throw new WorkflowFileError(manifestName ?? '', `bad manifest: /warmup/inputs/${key} names no input of the graph (node "${node}", input "${input}")`);
    }
  }
  return { inputs: structuredClone(inputs) };
}

/**
 * Loads every `*.json` graph in `dir` with its optional manifest. A bad file never stops the
 * others: it is skipped and reported in `errors` with the file name and the reason.
 */
export async function loadWorkflowDir(dir: string): Promise<LoadResult> {
  const workflows = new Map<string, Workflow>();
  const errors: WorkflowLoadError[] = [];
  const report = (error: unknown, fallbackFile: string) => {
    if (error instanceof WorkflowFileError) errors.push({ file: error.file || fallbackFile, reason: error.reason });
    else errors.push({ file: fallbackFile, reason: `unexpected error: ${(error as Error).message}` });
  };

  let names: string[];
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    names = entries
      .filter((e) => (e.isFile() || e.isSymbolicLink()) && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
  } catch (error) {
    errors.push({ file: dir, reason: `cannot read the workflows folder (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})` });
    return { workflows, errors };
  }

  const manifestsByBase = new Map<string, string[]>();
  const graphs: string[] = [];
  for (const name of names) {
    const base = manifestBase(name);
    if (base !== undefined) manifestsByBase.set(base, [...(manifestsByBase.get(base) ?? []), name]);
    else if (name.endsWith('.json')) graphs.push(name);
  }

  const owners = new Map<string, string>();
  for (const graphName of graphs) {
    const base = graphName.slice(0, -'.json'.length);
    const manifests = manifestsByBase.get(base) ?? [];
    manifestsByBase.delete(base);
    if (manifests.length > 1) {
      errors.push({ file: graphName, reason: `has several manifests (${manifests.join(', ')}); keep one` });
      continue;
    }
    try {
      const workflow = await loadOne(dir, graphName, manifests[0]);
      const owner = owners.get(workflow.alias);
      if (owner !== undefined) {
        errors.push({ file: graphName, reason: `alias "${workflow.alias}" is already used by ${owner}` });
        continue;
      }
      owners.set(workflow.alias, graphName);
      workflows.set(workflow.alias, workflow);
    } catch (error) {
      report(error, graphName);
    }
  }
  for (const [base, manifests] of manifestsByBase) {
    for (const name of manifests) errors.push({ file: name, reason: `manifest without a graph: there is no ${base}.json beside it` });
  }
  return { workflows, errors };
}
