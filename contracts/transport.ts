import type { Readable } from 'node:stream';
import type { Graph } from './graph.js';

/**
 * The transport contract: the generation-level API over one or more ComfyUI backends.
 * The default implementation is plugins/comfyui. Events are routed by prompt_id (bridge-minted
 * UUID), never by ComfyUI's socket id.
 */

/** An output file as ComfyUI lists it in a node's output (history or `executed`). */
export interface OutputRef {
  node: string;
  /** The key in the node's output dict: images, gifs, video, audio, … */
  kind: string;
  filename: string;
  subfolder: string;
  /** ComfyUI folder type: output | temp | input */
  type: string;
}

export type TransportEvent =
  | { type: 'queued'; promptId: string; backend: string }
  | { type: 'started'; promptId: string; backend: string }
  | { type: 'cached'; promptId: string; backend: string; nodes: string[] }
  | { type: 'executing'; promptId: string; backend: string; node: string }
  | { type: 'progress'; promptId: string; backend: string; node: string; value: number; max: number }
  | { type: 'executed'; promptId: string; backend: string; node: string; outputs: OutputRef[] }
  /** Finished successfully; `outputs` is every output file (from /history, the source of truth). */
  | { type: 'completed'; promptId: string; backend: string; outputs: OutputRef[] }
  | {
      type: 'failed';
      promptId: string;
      backend: string;
      node: string | null;
      nodeType: string | null;
      exceptionType: string | null;
      message: string;
    }
  | { type: 'interrupted'; promptId: string; backend: string; node: string | null }
  /** The backend no longer knows the prompt (it restarted and forgot it, or stayed down too long). */
  | { type: 'lost'; promptId: string; backend: string; reason: string };

export interface SubmitResult {
  backend: string;
  /** ComfyUI's queue number. */
  number: number;
  /** Prompts ahead of this one on its backend (0 = next or running). */
  position: number;
}

export interface BackendStatus {
  name: string;
  url: string;
  up: boolean;
  /** Prompts running + pending, as last seen. */
  queueRemaining: number | null;
  lastError: string | null;
  /** Whether the backend has the newer /api/jobs routes. */
  jobsApi: boolean;
}

export type PromptLookup =
  | { state: 'queued' | 'running' | 'unknown' }
  | { state: 'completed'; outputs: OutputRef[] }
  | { state: 'failed'; message: string; node: string | null }
  | { state: 'interrupted' };

export interface Transport {
  /** The backend a new generation should go to (healthy, shortest queue), or undefined if none is up. */
  pickBackend(): string | undefined;
  /**
   * Submits a graph with a bridge-minted prompt_id. The prompt is tracked before the request is sent,
   * so events that arrive before the answer are not lost. Throws BridgeError: 400 `graph_rejected`
   * (extra.node_errors) when ComfyUI refuses the graph, 503 `backend_unavailable` when it cannot be reached.
   */
  submit(request: { promptId: string; graph: Graph; backend: string }): Promise<SubmitResult>;
  /** Resume tracking a prompt submitted earlier (e.g. before a bridge restart). */
  track(promptId: string, backend: string): void;
  untrack(promptId: string): void;
  onEvent(listener: (event: TransportEvent) => void): () => void;
  /** Removes the prompt from the queue, or interrupts it if running (targeted). */
  cancel(promptId: string, backend: string): Promise<'removed' | 'interrupted' | 'not_found'>;
  /** Puts a file on a backend (ComfyUI POST /upload/image); returns the name ComfyUI answers with. */
  upload(backend: string, file: { path: string; name: string; contentType: string }): Promise<string>;
  /** Streams an output file from the backend (ComfyUI GET /view). */
  fetchOutput(backend: string, ref: OutputRef): Promise<{ stream: Readable; contentType: string; length: number | null }>;
  /** Asks backends to unload models and free memory; all backends when `backend` is undefined. */
  free(backend?: string): Promise<{ name: string; url: string; ok: boolean }[]>;
  /** What the backend knows of a prompt now (history + queue); for reconciliation. */
  lookup(promptId: string, backend: string): Promise<PromptLookup>;
  backends(): BackendStatus[];
  /** A node class definition from a reachable backend's /object_info, or undefined. */
  objectInfo(classType: string): Promise<Record<string, unknown> | undefined>;
}

declare module '../core/services.js' {
  interface ServiceMap {
    /** The generation-level API over the ComfyUI backends (plugins/comfyui). */
    transport: Transport;
  }
}
