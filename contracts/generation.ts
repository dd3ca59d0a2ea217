import type { Graph } from './graph.js';

export type GenerationState = 'queued' | 'running' | 'completed' | 'failed' | 'interrupted';
export const GENERATION_STATES: readonly GenerationState[] = ['queued', 'running', 'completed', 'failed', 'interrupted'];
export const FINAL_STATES: ReadonlySet<GenerationState> = new Set(['completed', 'failed', 'interrupted']);

/** One output file copied into the bridge's result store (served at /results/<id>/<filename>). */
export interface ResultFile {
  /** Name inside the generation's result folder (unique within the generation). */
  filename: string;
  contentType: string;
  size: number;
  /** The output node that produced it. */
  node: string;
  /** The key of the node's output it came from: images, gifs, video, audio, text… */
  kind: string;
  /** Hex SHA-256 of the bytes, computed while copying (ETag material). */
  sha256?: string;
}

/** A generation as the bridge records it. Persisted before submission and after every state change. */
export interface Generation {
  id: string;
  clientId: string;
  /** Principal id (API key id) that created it; null when auth is off. */
  owner: string | null;
  workflow: string;
  state: GenerationState;
  /** Bridge-minted UUID sent to ComfyUI as prompt_id (a resubmission mints a new one). */
  promptId: string;
  /** Name of the backend it was submitted to; null before the first submission. */
  backend: string | null;
  /**
   * The graph as submitted (after inputs and beforeSubmit), kept for resubmission. A store may drop it
   * once the generation is final (storage-nedb does); such a generation reads back with `{}`.
   */
  graph: Graph;
  /** Stored upload names this generation uses. */
  uploads: string[];
  /** Which graph inputs took which stored upload ("<node>/<input>" → upload name), to re-upload on a resubmission. */
  uploadInputs?: Record<string, string>;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
  /** Prompts ahead of it on its backend at submission (0 = next or running). */
  position: number | null;
  /** Overall completion 0..100, never decreasing. */
  percent: number;
  node: string | null;
  step: number | null;
  maxSteps: number | null;
  /** Number of nodes that will run (the denominator of percent). */
  totalNodes: number;
  /** Nodes executed or cached so far. */
  doneNodes: string[];
  results: ResultFile[];
  /** Human reason for failed / interrupted. */
  error: string | null;
  /** Shipped workflow files its image inputs use: "<node>/<input>" → absolute path (re-placed on resubmission). */
  shippedInputs?: Record<string, string>;
  /** How many times it was submitted to a backend. */
  attempts: number;
}
