import type { PyValue } from './py-json.js';

/** What a fake node class needs: its /object_info entry and what it does when run. */

export interface NodeEnv {
  inputDir: string;
  outputDir: string;
  tempDir: string;
  checkpoints: string[];
  /** Classes this instance pretends not to have (missing custom nodes): absent from /object_info, refused by validation. */
  hiddenClasses: Set<string>;
  /** The checkpoint in "GPU memory" and what loading another one costs (ms), shared by reference with runs. */
  model: { loaded: string | null; loadMs: number; loads: number };
}

export interface NodeRunContext extends NodeEnv {
  nodeId: string;
  promptId: string;
  /** The prompt as ComfyUI embeds it in PNG metadata. */
  promptForMetadata: PyValue;
  extraPnginfo: Record<string, PyValue> | undefined;
  /** How long this node should take (ms). */
  durationMs: number;
  sleep(ms: number): Promise<void>;
  /** Reports progress like comfy.utils.ProgressBar; throws InterruptedError when interrupted. */
  progress(value: PyValue, max: PyValue): Promise<void>;
  /** PromptServer.send_progress_text: a binary TEXT frame broadcast to every socket. */
  progressText(text: string): void;
}

export interface NodeResult {
  outputs: unknown[];
  ui?: Record<string, PyValue>;
}

export interface NodeDef {
  name: string;
  outputNode: boolean;
  returnTypes: string[];
  /** Whether the node reports progress itself (then the interrupt lands inside it). */
  reportsProgress?: boolean;
  /** The object_info entry; dynamic lists (LoadImage files, checkpoints) are filled from env. */
  info(env: NodeEnv): Record<string, PyValue>;
  /** VALIDATE_INPUTS: true when fine, otherwise the error text; `inputs` lists the inputs it checks. */
  validate?: { inputs: string[]; check(inputs: Record<string, unknown>, env: NodeEnv): true | string };
  /** IS_CHANGED: part of the cache key (LoadImage hashes the file). */
  isChanged?(inputs: Record<string, unknown>, env: NodeEnv): string;
  run(inputs: Record<string, unknown>, ctx: NodeRunContext): Promise<NodeResult>;
}

/** comfy.model_management.InterruptProcessingException */
export class InterruptedError extends Error {}

/** An exception raised inside a node, reported as execution_error. */
export class NodeExecutionError extends Error {
  constructor(
    message: string,
    readonly exceptionType: string,
    readonly traceback: string[],
  ) {
    super(message);
  }
}
