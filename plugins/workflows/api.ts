import type { Graph } from '../../contracts/graph.js';

export type InputType = 'str' | 'int' | 'float' | 'bool';

/** A designated input: what /workflow-info returns for one `"<node id>/<input name>"` key. */
export interface WorkflowInput {
  type: InputType;
  title: string;
  class: string;
  default: unknown;
  description?: string;
  min?: number;
  max?: number;
  step?: number;
  options?: unknown[];
  multiline?: boolean;
  /** "image" for inputs that take an uploaded file. */
  kind?: 'image';
}

export interface Workflow {
  alias: string;
  description: string;
  thumbnail: string | null;
  /** The graph file it was loaded from. */
  file: string;
  graph: Graph;
  /** Keyed "<node id>/<input name>", from _meta.apiinput and/or the manifest. */
  inputs: Record<string, WorkflowInput>;
  /** Files the operator ships with the workflow that image inputs may name. */
  shippedFiles: string[];
  /** Absolute path of each shipped file, by the name in `shippedFiles` (to upload it to a backend). */
  shippedFilePaths?: Record<string, string>;
  /**
   * Set when its manifest marks it for warm-up: the values its warm-up run sets over the graph's
   * defaults ("<node id>/<input name>" → value; {} for the defaults alone).
   */
  warmup?: { inputs: Record<string, unknown> };
}

/** A workflow file skipped at load, and why. */
export interface WorkflowLoadProblem {
  /** The file name, relative to the workflows folder. */
  file: string;
  reason: string;
}

export interface WorkflowRegistry {
  list(): Workflow[];
  get(alias: string): Workflow | undefined;
  /** The inputs enriched with the backend's /object_info constraints when a backend is reachable. */
  describe(alias: string): Promise<Record<string, WorkflowInput> | undefined>;
  /** Files skipped at the last (re)load, each with the reason (for /ready, admin pages, tests). */
  errors?(): WorkflowLoadProblem[];
}

declare module '../../core/services.js' {
  interface ServiceMap {
    /** The registered workflows (plugins/workflows). */
    workflows: WorkflowRegistry;
  }
}
