import type { Readable } from 'node:stream';
import { BridgeError, isBridgeError, type BridgeErrorOptions } from '../core/errors.js';
import type { Graph } from './graph.js';

/**
 * The transport contract: the generation-level API over one or more ComfyUI backends.
 * The default implementation is plugins/comfyui. The transport alone owns a prompt's liveness:
 * it submits, follows, reconciles after gaps and decides when a prompt is `lost` or `stuck`; the
 * caller gets a PromptRun handle and hears every event of its prompt, ended by exactly one
 * terminal event (completed, failed, interrupted, lost or stuck).
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

/** An output file being fetched from its backend (Transport.fetchOutput). */
export interface FetchedOutput {
  stream: Readable;
  contentType: string;
  /** Its size when known before reading (the Content-Length). */
  length: number | null;
  /** The whole file, when the transport already holds it in memory (read from a local folder): `stream` yields the same bytes, and need not be read. */
  bytes?: Buffer;
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
  | { type: 'lost'; promptId: string; backend: string; reason: string }
  /** No news for the run's `stuckAfterMs` and the backend cannot say (one it says runs is never stuck). */
  | { type: 'stuck'; promptId: string; backend: string; reason: string };

export type TerminalEvent = Extract<TransportEvent, { type: 'completed' | 'failed' | 'interrupted' | 'lost' | 'stuck' }>;
export const TERMINAL_EVENTS: ReadonlySet<TransportEvent['type']> = new Set(['completed', 'failed', 'interrupted', 'lost', 'stuck']);

/** What a PromptRun's owner hears: every event of that one prompt, in order, the terminal one last. */
export type PromptListener = (event: TransportEvent) => void;

export interface RunRequest {
  promptId: string;
  backend: string;
  /**
   * No news from ComfyUI for this long makes the transport check the prompt: still queued is fine;
   * running too (a long silent node); unreachable ends the run with `stuck`. Omitted: never stuck.
   */
  stuckAfterMs?: number;
}

export type CancelOutcome = 'removed' | 'interrupted' | 'not_found';

/** A prompt the transport follows for its owner. */
export interface PromptRun {
  readonly promptId: string;
  readonly backend: string;
  /** Prompts ahead of it on its backend at submission (0 = next or running); null for a resumed run. */
  readonly position: number | null;
  /**
   * Removes it from the queue, or interrupts it if running (targeted). The run then ends with one
   * terminal event: `interrupted` when removed or stopped, or the end it reached meanwhile.
   * Throws a 503 BridgeError when the backend cannot be reached.
   */
  cancel(): Promise<CancelOutcome>;
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

/**
 * No backend can take the work right now (none up, none named so, one unreachable or answering an error): a 503
 * `backend_unavailable`, the transport's error, the client may retry (give `headers: retryAfter()`).
 */
export const backendUnavailable = (detail: string, options?: BridgeErrorOptions): BridgeError => new BridgeError(503, 'backend_unavailable', detail, options);

/** ComfyUI refused the graph (HTTP 400 to POST /prompt): the client's fault, with ComfyUI's node errors. */
export const GRAPH_REJECTED = 'graph_rejected';
export type GraphRejectedError = BridgeError & { code: typeof GRAPH_REJECTED; extra: { node_errors: Record<string, unknown> } };

/** `cause`: ComfyUI's whole answer (logs, and the transport telling an operator's fault from the client's); never sent to clients. */
export function graphRejected(detail: string, nodeErrors: Record<string, unknown>, cause?: unknown): GraphRejectedError {
  return new BridgeError(400, GRAPH_REJECTED, detail, { extra: { node_errors: nodeErrors }, cause }) as GraphRejectedError;
}

/** By shape, not class: a transport may come with its own copy of core/errors. */
export const isGraphRejected = (error: unknown): error is GraphRejectedError => isBridgeError(error) && error.code === GRAPH_REJECTED;

/** The one Retry-After policy of the bridge: what a 503 (or a 429 without its own option) tells a client to wait. */
export const RETRY_AFTER_SECONDS = 5;
export const retryAfter = (seconds: number = RETRY_AFTER_SECONDS): { 'Retry-After': string } => ({ 'Retry-After': String(seconds) });

/** What a generation asks of a backend: its graph (node classes, model files) and its workflow (pins by tag). */
export interface RouteNeed {
  graph: Graph;
  workflow?: string;
}

/** One backend's answer to "can you run this?": what it lacks ([] when it can; `known` false until its /object_info was read). */
export interface BackendFit {
  backend: string;
  up: boolean;
  known: boolean;
  missing: string[];
}

/** No backend has what the workflow needs (node classes, model files, tags): the operator's problem, not the client's. */
export const WORKFLOW_UNAVAILABLE = 'workflow_unavailable';
export function workflowUnavailable(detail: string, missing: Record<string, string[]>): BridgeError {
  return new BridgeError(503, WORKFLOW_UNAVAILABLE, detail, { headers: retryAfter(), extra: { missing } });
}

/** The sentence a 503 `workflow_unavailable` carries: what each up backend lacks. */
export function describeUnfit(workflow: string, fits: readonly BackendFit[]): string {
  const parts = fits.filter((f) => f.up).map((f) => `${f.backend} lacks ${f.missing.join(', ')}`);
  return `no ComfyUI backend can run workflow "${workflow}": ${parts.join('; ')}`;
}

export interface Transport {
  /**
   * The backend a new generation should go to, or undefined if none is up (or, given `need`, none
   * that is up has what it needs): capable first, then shortest queue and weight, then model affinity.
   */
  pickBackend(need?: RouteNeed): string | undefined;
  /** Per backend, what it lacks to run `need` (optional: a transport that cannot tell omits it). */
  fit?(need: RouteNeed): BackendFit[];
  /**
   * A number that moves whenever `fit` or `modelFiles` may answer differently: a backend's capabilities read
   * again (which also refreshes the definitions `objectInfo` hands out), a backend up or down. A caller may reuse
   * what it derived from them until it moves; cheap enough to ask per request. Optional: without it, ask again.
   */
  capabilityGeneration?(): number;
  /** The files a model input ("<class>.<input>") accepts, union over up backends; undefined when not a model input. */
  modelFiles?(classType: string, input: string): string[] | undefined;
  /**
   * Submits a graph with a bridge-minted prompt_id and follows it. `listener` is attached before the
   * request is sent, so events that arrive before the answer are not lost. Throws GraphRejectedError
   * when ComfyUI refuses the graph, a 503 `backend_unavailable` BridgeError when it cannot be reached
   * (no event is sent for a submission that threw).
   */
  submit(request: RunRequest & { graph: Graph }, listener: PromptListener): Promise<PromptRun>;
  /** Follows a prompt submitted earlier (before a bridge restart): it is checked against the backend at once. */
  resume(request: RunRequest, listener: PromptListener): PromptRun;
  /** Puts a file on a backend (ComfyUI POST /upload/image); returns the name ComfyUI answers with. */
  upload(backend: string, file: { path: string; name: string; contentType: string }): Promise<string>;
  /** Streams an output file from the backend (ComfyUI GET /view, or its folder where this machine sees it). */
  fetchOutput(backend: string, ref: OutputRef): Promise<FetchedOutput>;
  /** Asks backends to unload models and free memory; all backends when `backend` is undefined. */
  free(backend?: string): Promise<{ name: string; url: string; ok: boolean }[]>;
  backends(): BackendStatus[];
  /**
   * Calls `listener` each time a backend connects or comes back, once its capabilities were read
   * (or reading them failed), so `fit` answers for it; at once (next microtask) for every backend
   * already up and read. Returns the unsubscribe function. Optional: a transport that cannot tell omits it.
   */
  onBackendUp?(listener: (backend: string) => void): () => void;
  /**
   * A node class definition from a reachable backend's /object_info, or undefined. One cache with a
   * TTL for every user (workflows, generations); concurrent asks for a class share one request, and
   * `timeoutMs` bounds this caller's wait (undefined then) without cancelling the shared request.
   */
  objectInfo(classType: string, timeoutMs?: number): Promise<Record<string, unknown> | undefined>;
}

declare module '../core/services.js' {
  interface ServiceMap {
    /** The generation-level API over the ComfyUI backends (plugins/comfyui). */
    transport: Transport;
  }
}
