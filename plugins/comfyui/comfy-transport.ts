import { openAsBlob } from 'node:fs';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Graph } from '../../core/contracts/graph.js';
import type {
  BackendStatus,
  OutputRef,
  PromptLookup,
  SubmitResult,
  Transport,
  TransportEvent,
} from '../../core/contracts/transport.js';
import { BridgeError, backendUnavailable, badRequest, conflict, notFound } from '../../core/errors.js';
import { BackendConnection } from './backend-connection.js';
import { UnreachableError } from './http-client.js';
import type { ComfyuiOptions } from './options.js';
import { cancelPrompt, lookupPrompts } from './backend-queries.js';
import { describeRejection, foundInHistory, isObject, outputsOfNode, toLookup } from './protocol.js';
import type { Found } from './protocol.js';

/** A prompt the bridge waits on. Terminal events remove it, so each prompt ends exactly once. */
interface Tracked {
  promptId: string;
  backend: BackendConnection;
  /** POST /prompt not answered yet: the backend may not know it, so reconciliation leaves it alone. */
  submitting: boolean;
  /** execution_success seen; the outputs are being read from /history. */
  settling: boolean;
  /** Outputs announced by `executed` frames: the fallback when /history cannot be read. */
  seenOutputs: OutputRef[];
  /** Last time the backend said anything about it (a frame, or a check that found it queued/running). */
  lastNewsAt: number;
}

const PROGRESS_STATE_PREFIX = '{"type": "progress_state"';

/** After execution_success, real ComfyUI writes history a moment later (task_done runs after execute). */
const HISTORY_RETRY_DELAYS_MS = [0, 50, 100, 200, 400, 800, 1600];

type EndEvent = Extract<TransportEvent, { type: 'completed' | 'failed' | 'interrupted' | 'lost' }>;
type Ending = EndEvent extends infer E ? (E extends unknown ? Omit<E, 'promptId' | 'backend'> : never) : never;

function nameFor(url: string, index: number, taken: Set<string>): string {
  let base: string;
  try {
    base = new URL(url).host;
  } catch {
    base = `backend-${index + 1}`;
  }
  let name = base;
  for (let n = 2; taken.has(name); n += 1) name = `${base}#${n}`;
  return name;
}

function ending(found: Found): Ending | null {
  switch (found.state) {
    case 'completed':
      return { type: 'completed', outputs: found.outputs };
    case 'failed':
      return {
        type: 'failed',
        node: found.node,
        nodeType: found.nodeType,
        exceptionType: found.exceptionType,
        message: found.message,
      };
    case 'interrupted':
      return { type: 'interrupted', node: found.node };
    default:
      return null;
  }
}

/**
 * The Transport over one or more ComfyUI backends. Events are routed by the bridge-minted
 * prompt_id; history is the source of truth after any gap (reconnect, silent socket, restart).
 */
export class ComfyTransport implements Transport {
  readonly #backends: BackendConnection[];
  readonly #byName = new Map<string, BackendConnection>();
  readonly #tracked = new Map<string, Tracked>();
  readonly #listeners = new Set<(event: TransportEvent) => void>();
  readonly #objectInfo = new Map<string, Record<string, unknown>>();
  readonly #reconciling = new Set<BackendConnection>();
  readonly #reconcileAgain = new Set<BackendConnection>();
  readonly #closing = new AbortController();
  #housekeeping: NodeJS.Timeout | null = null;
  #roundRobin = 0;

  constructor(
    private readonly options: ComfyuiOptions,
    readonly clientId: string,
    private readonly log: Logger,
  ) {
    const settings = {
      clientId,
      reconnect: options.reconnect,
      silentTimeoutMs: options.silentTimeoutMs,
      pingIntervalMs: options.pingIntervalMs,
      requestTimeoutMs: options.requestTimeoutMs,
    };
    const events = {
      onText: (backend: BackendConnection, text: string) => this.#onText(backend, text),
      onUp: (backend: BackendConnection) => void this.#reconcile(backend),
    };
    const taken = new Set<string>();
    this.#backends = options.backends.map((cfg, index) => {
      const name = cfg.name && !taken.has(cfg.name) ? cfg.name : nameFor(cfg.url, index, taken);
      taken.add(name);
      const backend = new BackendConnection(name, cfg.url, cfg.weight ?? 1, settings, events, log, this.#closing.signal);
      this.#byName.set(name, backend);
      return backend;
    });
  }

  /** Connects in the background; never waits for a backend. */
  start(): void {
    for (const backend of this.#backends) backend.start();
    const { pollIntervalMs, lostAfterMs } = this.options;
    const tick = Math.max(10, Math.min(1000, Math.floor(pollIntervalMs / 2), Math.floor(lostAfterMs / 2)));
    this.#housekeeping = setInterval(() => this.#housekeep(), tick);
  }

  async close(): Promise<void> {
    this.#closing.abort();
    if (this.#housekeeping) clearInterval(this.#housekeeping);
    this.#housekeeping = null;
    await Promise.all(this.#backends.map((backend) => backend.close()));
    this.#listeners.clear();
  }

  isTracked(promptId: string): boolean {
    return this.#tracked.has(promptId);
  }

  // ── Transport ──────────────────────────────────────────────────────────────

  pickBackend(): string | undefined {
    let best: BackendConnection[] = [];
    let bestLoad = Infinity;
    let bestWeight = -Infinity;
    for (const backend of this.#backends) {
      if (!backend.up) continue;
      const load = backend.queueRemaining ?? 0;
      if (load < bestLoad || (load === bestLoad && backend.weight > bestWeight)) {
        best = [backend];
        bestLoad = load;
        bestWeight = backend.weight;
      } else if (load === bestLoad && backend.weight === bestWeight) {
        best.push(backend);
      }
    }
    if (best.length === 0) return undefined;
    const chosen = best[this.#roundRobin % best.length];
    this.#roundRobin = (this.#roundRobin + 1) % 1_000_000;
    return chosen?.name;
  }

  async submit(request: { promptId: string; graph: Graph; backend: string }): Promise<SubmitResult> {
    const { promptId, graph } = request;
    const backend = this.#byName.get(request.backend);
    if (!backend) throw backendUnavailable(`no ComfyUI backend is named "${request.backend}"`);
    if (this.#tracked.has(promptId)) throw conflict(`prompt ${promptId} was already submitted`);
    const ahead = backend.queueRemaining ?? 0;
    const statusSeq = backend.statusSeq;
    // Tracked before sending: a tiny prompt can finish before POST /prompt answers.
    const tracked: Tracked = {
      promptId,
      backend,
      submitting: true,
      settling: false,
      seenOutputs: [],
      lastNewsAt: Date.now(),
    };
    this.#tracked.set(promptId, tracked);
    let res;
    try {
      res = await backend.http.json('POST', '/prompt', { prompt: graph, client_id: this.clientId, prompt_id: promptId });
    } catch (error) {
      this.#drop(tracked);
      backend.lastError = (error as Error).message;
      throw backendUnavailable(`ComfyUI backend ${backend.name} cannot be reached`, { cause: error, headers: { 'Retry-After': '5' } });
    }
    if (res.status === 400) {
      this.#drop(tracked);
      const nodeErrors = isObject(res.body) && isObject(res.body.node_errors) ? res.body.node_errors : {};
      throw new BridgeError(400, 'graph_rejected', `ComfyUI rejected the graph: ${describeRejection(res.body)}`, {
        extra: { node_errors: nodeErrors },
      });
    }
    if (res.status !== 200 || !isObject(res.body)) {
      this.#drop(tracked);
      throw backendUnavailable(`ComfyUI backend ${backend.name} answered HTTP ${res.status} to the prompt`, {
        headers: { 'Retry-After': '5' },
      });
    }
    tracked.submitting = false;
    tracked.lastNewsAt = Date.now();
    // Until the next `status` frame, count this prompt so quick successive picks spread out.
    if (backend.statusSeq === statusSeq) backend.queueRemaining = ahead + 1;
    const number = typeof res.body.number === 'number' ? res.body.number : Number(res.body.number) || 0;
    return { backend: backend.name, number, position: ahead };
  }

  track(promptId: string, backendName: string): void {
    if (this.#tracked.has(promptId)) return;
    const backend = this.#byName.get(backendName);
    if (!backend) {
      queueMicrotask(() =>
        this.#emit({ type: 'lost', promptId, backend: backendName, reason: `ComfyUI backend "${backendName}" is no longer configured` }),
      );
      return;
    }
    // lastNewsAt 0: events may have been missed while nobody tracked it, so check it at once.
    this.#tracked.set(promptId, { promptId, backend, submitting: false, settling: false, seenOutputs: [], lastNewsAt: 0 });
    if (backend.up) void this.#reconcile(backend);
  }

  untrack(promptId: string): void {
    this.#tracked.delete(promptId);
  }

  onEvent(listener: (event: TransportEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async cancel(promptId: string, backendName: string): Promise<'removed' | 'interrupted' | 'not_found'> {
    const backend = this.#byName.get(backendName);
    if (!backend) return 'not_found';
    const outcome = await this.#unreachableAs503(backend, () => cancelPrompt(backend, promptId));
    if (outcome === 'removed') {
      // ComfyUI sends nothing for a prompt deleted from its queue: end it here, or it would wait forever.
      const tracked = this.#tracked.get(promptId);
      if (tracked && tracked.backend === backend) this.#finish(tracked, { type: 'interrupted', node: null });
    }
    return outcome;
  }

  async upload(backendName: string, file: { path: string; name: string; contentType: string }): Promise<string> {
    const backend = this.#require(backendName);
    const form = new FormData();
    form.append('image', await openAsBlob(file.path, { type: file.contentType }), file.name);
    form.append('type', 'input');
    form.append('overwrite', 'false');
    const res = await this.#unreachableAs503(backend, () => backend.http.json('POST', '/upload/image', form));
    if (res.status !== 200 || !isObject(res.body) || typeof res.body.name !== 'string') {
      if (res.status >= 400 && res.status < 500) {
        throw badRequest(`ComfyUI backend ${backend.name} refused the upload of ${file.name} (HTTP ${res.status})`);
      }
      throw backendUnavailable(`ComfyUI backend ${backend.name} answered HTTP ${res.status} to the upload`);
    }
    const subfolder = typeof res.body.subfolder === 'string' ? res.body.subfolder : '';
    return subfolder ? `${subfolder}/${res.body.name}` : res.body.name;
  }

  async fetchOutput(
    backendName: string,
    ref: OutputRef,
  ): Promise<{ stream: Readable; contentType: string; length: number | null }> {
    const backend = this.#require(backendName);
    const res = await this.#unreachableAs503(backend, () =>
      backend.http.open('/view', { filename: ref.filename, subfolder: ref.subfolder, type: ref.type }),
    );
    if (res.status !== 200) {
      res.body.destroy();
      if (res.status >= 400 && res.status < 500) {
        throw notFound(`output ${ref.filename} is not available on ComfyUI backend ${backend.name} (HTTP ${res.status})`);
      }
      throw backendUnavailable(`ComfyUI backend ${backend.name} answered HTTP ${res.status} for output ${ref.filename}`);
    }
    const length = res.header('content-length');
    const declared = Number(length);
    return {
      stream: res.body,
      contentType: res.header('content-type') ?? 'application/octet-stream',
      length: length !== undefined && Number.isFinite(declared) ? declared : null,
    };
  }

  async free(backendName?: string): Promise<{ name: string; url: string; ok: boolean }[]> {
    const targets = backendName === undefined ? this.#backends : [this.#require(backendName)];
    return Promise.all(
      targets.map(async (backend) => {
        try {
          const res = await backend.http.json('POST', '/free', { unload_models: true, free_memory: true });
          return { name: backend.name, url: backend.url, ok: res.status === 200 };
        } catch (error) {
          backend.lastError = (error as Error).message;
          return { name: backend.name, url: backend.url, ok: false };
        }
      }),
    );
  }

  async lookup(promptId: string, backendName: string): Promise<PromptLookup> {
    const backend = this.#byName.get(backendName);
    if (!backend) return { state: 'unknown' };
    const found = await this.#unreachableAs503(backend, () => lookupPrompts(backend, [promptId]));
    return toLookup(found.get(promptId) ?? { state: 'unknown' });
  }

  backends(): BackendStatus[] {
    return this.#backends.map((backend) => backend.status());
  }

  async objectInfo(classType: string): Promise<Record<string, unknown> | undefined> {
    const cached = this.#objectInfo.get(classType);
    if (cached) return cached;
    for (const backend of this.#backends) {
      if (!backend.up) continue;
      try {
        const res = await backend.http.json('GET', `/object_info/${encodeURIComponent(classType)}`);
        const info = isObject(res.body) ? res.body[classType] : undefined;
        if (res.status === 200 && isObject(info)) {
          this.#objectInfo.set(classType, info);
          return info;
        }
        // An unknown class answers {}; another backend may have the custom node.
      } catch (error) {
        backend.lastError = (error as Error).message;
      }
    }
    return undefined;
  }

  // ── websocket frames (hot path: one JSON.parse, one Map lookup) ─────────────

  #onText(backend: BackendConnection, text: string): void {
    // progress_state repeats every node's state on every change (quadratic over a prompt) and the
    // contract has no use for it: skip it before parsing. Python's json.dumps puts "type" first.
    if (text.startsWith(PROGRESS_STATE_PREFIX)) return;
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (!isObject(message) || !isObject(message.data)) return;
    const data = message.data;
    if (message.type === 'status') {
      const status = isObject(data.status) ? data.status : undefined;
      const remaining = status && isObject(status.exec_info) ? status.exec_info.queue_remaining : undefined;
      if (typeof remaining === 'number') {
        backend.queueRemaining = remaining;
        backend.statusSeq += 1;
      }
      return;
    }
    const promptId = data.prompt_id;
    if (typeof promptId !== 'string') return; // e.g. the `executing` replay after a reconnect has none
    const tracked = this.#tracked.get(promptId);
    if (!tracked) return;
    tracked.lastNewsAt = Date.now();
    const base = { promptId, backend: tracked.backend.name };
    switch (message.type) {
      case 'execution_start':
        this.#emit({ type: 'started', ...base });
        return;
      case 'execution_cached':
        this.#emit({ type: 'cached', ...base, nodes: Array.isArray(data.nodes) ? data.nodes.map(String) : [] });
        return;
      case 'executing':
        // node null follows the end of the prompt; completion comes from execution_success.
        if (typeof data.node === 'string') this.#emit({ type: 'executing', ...base, node: data.node });
        return;
      case 'progress':
        if (typeof data.node === 'string' && typeof data.value === 'number' && typeof data.max === 'number') {
          this.#emit({ type: 'progress', ...base, node: data.node, value: data.value, max: data.max });
        }
        return;
      case 'executed': {
        if (typeof data.node !== 'string') return;
        const outputs = outputsOfNode(data.node, data.output);
        tracked.seenOutputs.push(...outputs);
        this.#emit({ type: 'executed', ...base, node: data.node, outputs });
        return;
      }
      case 'execution_success':
        if (tracked.settling) return;
        tracked.settling = true;
        void this.#settleFromHistory(tracked);
        return;
      case 'execution_error':
        this.#finish(tracked, {
          type: 'failed',
          node: typeof data.node_id === 'string' ? data.node_id : null,
          nodeType: typeof data.node_type === 'string' ? data.node_type : null,
          exceptionType: typeof data.exception_type === 'string' ? data.exception_type : null,
          message:
            typeof data.exception_message === 'string' && data.exception_message.trim()
              ? data.exception_message.trim()
              : 'the prompt failed on the backend',
        });
        return;
      case 'execution_interrupted':
        this.#finish(tracked, { type: 'interrupted', node: typeof data.node_id === 'string' ? data.node_id : null });
        return;
      default:
        return; // progress_state and others carry nothing the contract needs
    }
  }

  /** History is the source of truth for the outputs (every output node, cached ones included). */
  async #settleFromHistory(tracked: Tracked): Promise<void> {
    const { promptId, backend } = tracked;
    for (const delay of HISTORY_RETRY_DELAYS_MS) {
      if (delay > 0) {
        try {
          await sleep(delay, undefined, { signal: this.#closing.signal });
        } catch {
          return; // closing
        }
      }
      if (this.#tracked.get(promptId) !== tracked) return;
      try {
        const res = await backend.http.json('GET', `/history/${encodeURIComponent(promptId)}`);
        const entry = isObject(res.body) ? res.body[promptId] : undefined;
        if (entry !== undefined) {
          const end = ending(foundInHistory(entry));
          if (end) {
            this.#finish(tracked, end);
            return;
          }
        }
      } catch (error) {
        this.log.debug({ err: error, promptId, backend: backend.name }, 'history read failed after execution_success');
      }
    }
    this.log.warn({ promptId, backend: backend.name }, 'history never confirmed a finished prompt; using the outputs seen on the socket');
    this.#finish(tracked, { type: 'completed', outputs: tracked.seenOutputs });
  }

  // ── reconciliation ─────────────────────────────────────────────────────────

  /** After a (re)connect or a long silence: ask the backend about every prompt still in flight there. */
  async #reconcile(backend: BackendConnection): Promise<void> {
    if (this.#reconciling.has(backend)) {
      this.#reconcileAgain.add(backend);
      return;
    }
    this.#reconciling.add(backend);
    try {
      do {
        this.#reconcileAgain.delete(backend);
        await this.#reconcileOnce(backend);
      } while (this.#reconcileAgain.has(backend) && !this.#closing.signal.aborted);
    } finally {
      this.#reconciling.delete(backend);
    }
  }

  async #reconcileOnce(backend: BackendConnection): Promise<void> {
    const candidates = [...this.#tracked.values()].filter((t) => t.backend === backend && !t.submitting && !t.settling);
    if (candidates.length === 0) return;
    let found: Map<string, Found>;
    try {
      found = await lookupPrompts(
        backend,
        candidates.map((t) => t.promptId),
      );
    } catch (error) {
      // Unreachable again: the socket's close and the lost timer take it from here.
      this.log.debug({ err: error, backend: backend.name }, 'reconciliation could not reach the backend');
      return;
    }
    const now = Date.now();
    for (const tracked of candidates) {
      if (this.#tracked.get(tracked.promptId) !== tracked || tracked.settling) continue;
      const state = found.get(tracked.promptId) ?? { state: 'unknown' };
      if (state.state === 'queued' || state.state === 'running') {
        tracked.lastNewsAt = now;
        continue;
      }
      const end = ending(state);
      if (end) {
        this.#finish(tracked, end);
      } else {
        this.#finish(tracked, {
          type: 'lost',
          reason: `ComfyUI backend ${backend.name} no longer knows the prompt (it restarted or dropped it)`,
        });
      }
    }
  }

  #housekeep(): void {
    const now = Date.now();
    const { lostAfterMs, pollIntervalMs } = this.options;
    const stale = new Set<BackendConnection>();
    for (const tracked of [...this.#tracked.values()]) {
      if (tracked.submitting || tracked.settling) continue;
      const { backend } = tracked;
      if (!backend.up) {
        if (now - backend.downSince >= lostAfterMs) {
          this.#finish(tracked, {
            type: 'lost',
            reason: `ComfyUI backend ${backend.name} has been unreachable for more than ${Math.round(lostAfterMs / 1000)} s`,
          });
        }
      } else if (now - tracked.lastNewsAt >= pollIntervalMs) {
        stale.add(backend);
      }
    }
    for (const backend of stale) void this.#reconcile(backend);
  }

  // ── helpers ────────────────────────────────────────────────────────────────

  #require(name: string): BackendConnection {
    const backend = this.#byName.get(name);
    if (!backend) throw notFound(`no ComfyUI backend is named "${name}"`);
    return backend;
  }

  async #unreachableAs503<T>(backend: BackendConnection, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof UnreachableError)) throw error;
      backend.lastError = error.message;
      throw backendUnavailable(`ComfyUI backend ${backend.name} cannot be reached`, {
        cause: error,
        headers: { 'Retry-After': '5' },
      });
    }
  }

  #drop(tracked: Tracked): void {
    if (this.#tracked.get(tracked.promptId) === tracked) this.#tracked.delete(tracked.promptId);
  }

  #finish(tracked: Tracked, end: Ending): void {
    if (this.#tracked.get(tracked.promptId) !== tracked) return;
    this.#tracked.delete(tracked.promptId);
    this.#emit({ ...end, promptId: tracked.promptId, backend: tracked.backend.name } as TransportEvent);
  }

  #emit(event: TransportEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.log.error({ err: error, event: event.type, promptId: event.promptId }, 'transport event listener threw');
      }
    }
  }
}
