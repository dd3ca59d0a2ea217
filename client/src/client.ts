import { apiError, buildUrl, request, type HttpOptions } from './http.js';
import { Generation } from './generation.js';
import { FrameStream, webSocketConstructor, type FollowOptions, type WebSocketConstructor } from './socket.js';
import type {
  GenerationCount,
  HistoryPage,
  HistoryQuery,
  InterruptAnswer,
  Queued,
  ShippedWorkflows,
  StatusFrame,
  WorkflowInput,
  WorkflowMap,
  WorkflowSummary,
} from './types.js';

export interface ClientOptions {
  /** Where the bridge listens, e.g. "http://127.0.0.1:8288". */
  baseUrl: string;
  /** An API key, when the bridge has auth on (sent as Authorization: Bearer; as ?api_key= on the websocket). */
  apiKey?: string;
  /** The client context (one per user session or job); a fresh UUID by default. */
  clientId?: string;
  /** A fetch of your own (tests, proxies); the global one by default. */
  fetch?: typeof fetch;
  /** A WebSocket constructor of your own; the native one, or the `ws` package on Node 20. */
  WebSocket?: WebSocketConstructor;
}

export interface GenerateOptions {
  /** Answer only when the generation ended (bounded by the server's wait timeout). */
  wait?: boolean;
}

/** Files to upload: field name → file (the answer maps the same names to stored names), or a list (upload_0, upload_1…). */
export type UploadFiles = Record<string, Blob> | Blob[];

/**
 * The typed client of comfy-bridge. `W` maps each workflow alias to its inputs; by default the workflows
 * the types were generated with (see docs/client.md to generate yours, or use AnyWorkflows).
 */
export class ComfyBridgeClient<W extends WorkflowMap = ShippedWorkflows> {
  readonly clientId: string;
  readonly #http: HttpOptions;
  readonly #WebSocket: WebSocketConstructor | undefined;

  /** Result files: their bytes by URL. */
  readonly results = {
    /** The bytes of a result URL (from `done()`, a frame's `data.result_urls`, or history). */
    download: async (url: string, signal?: AbortSignal): Promise<Blob> => {
      const headers: Record<string, string> = this.#http.apiKey ? { authorization: `Bearer ${this.#http.apiKey}` } : {};
      const response = await this.#http.fetch(url, { headers, signal });
      if (!response.ok) throw await apiError(response);
      return await response.blob();
    },
    /** The result URLs of one generation (empty until it completed). */
    list: async (id: string): Promise<string[]> => (await this.executionInfo({ id })).data.result_urls,
  };

  constructor(options: ClientOptions) {
    const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#http = { baseUrl: options.baseUrl, apiKey: options.apiKey, fetch: fetchFn };
    this.#WebSocket = options.WebSocket;
    this.clientId = options.clientId ?? randomId();
  }

  /** GET /workflow-list */
  listWorkflows(): Promise<WorkflowSummary[]> {
    return request(this.#http, 'GET', '/workflow-list');
  }

  /** GET /workflow-info: the designated inputs of a workflow ("<node>/<input>" → type, default, min, max, options…). */
  workflowInfo(alias: keyof W & string): Promise<Record<string, WorkflowInput>> {
    return request(this.#http, 'GET', '/workflow-info', { query: { workflow: alias } });
  }

  /** POST /upload: stores images for this clientId; answers field → stored name (use it as an image input's value). */
  upload(files: UploadFiles): Promise<Record<string, string>> {
    const form = new FormData();
    const entries = Array.isArray(files) ? files.map((file, index) => [`upload_${index}`, file] as const) : Object.entries(files);
    for (const [field, file] of entries) form.append(field, file, (file as Blob & { name?: string }).name ?? `${field}.bin`);
    return request(this.#http, 'POST', '/upload', { query: { clientId: this.clientId }, form });
  }

  /** POST /generate-based-workflow: starts a generation of `alias` with these inputs (missing ones take the defaults). */
  async generate<A extends keyof W & string>(alias: A, inputs?: W[A], options: GenerateOptions = {}): Promise<Generation> {
    const answer = await request<Queued | StatusFrame>(this.#http, 'POST', '/generate-based-workflow', {
      query: { clientId: this.clientId },
      json: { ...(inputs ?? {}), workflow: alias, ...(options.wait ? { wait: true } : {}) },
    });
    return new Generation(this, answer, this.clientId, () => this.interrupt({ id: 'id' in answer ? answer.id : answer.data.id }));
  }

  /** POST /interrupt: this client's current generation, or the one named by id. */
  interrupt(target: { id?: string } = {}): Promise<InterruptAnswer> {
    return request(this.#http, 'POST', '/interrupt', { query: target.id ? { id: target.id } : { clientId: this.clientId } });
  }

  /** GET /execution-info: a generation's state as a status frame (this client's latest by default). */
  executionInfo(query: { id?: string } = {}): Promise<StatusFrame> {
    return request(this.#http, 'GET', '/execution-info', { query: query.id ? { id: query.id } : { clientId: this.clientId } });
  }

  /** GET /history: a page of past generations, newest first. */
  history(query: HistoryQuery = {}): Promise<HistoryPage> {
    return request(this.#http, 'GET', '/history', { query: { ...query } });
  }

  /** GET /generation-count */
  generationCount(): Promise<GenerationCount> {
    return request(this.#http, 'GET', '/generation-count');
  }

  /**
   * The websocket frames of a clientId (this client's by default) as an async iterator, reconnecting with
   * backoff and resuming with `since=` so no frame is lost or repeated. Generation frames only, unless
   * `socketFrames`. Ends when the server closes the socket normally; `close()` or an AbortSignal stop it.
   */
  follow(clientId: string = this.clientId, options: FollowOptions = {}): FrameStream {
    const base = this.#http.baseUrl.replace(/^http/, 'ws');
    return new FrameStream(
      {
        url: (since) => buildUrl(base, '/ws', { clientId, since, api_key: this.#http.apiKey }),
        WebSocket: () => webSocketConstructor(this.#WebSocket),
      },
      options,
    );
  }
}

function randomId(): string {
  const crypto = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (crypto?.randomUUID) return crypto.randomUUID();
  return `client-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}
