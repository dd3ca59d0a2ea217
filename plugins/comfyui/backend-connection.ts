import WebSocket from 'ws';
import type { Logger } from 'pino';
import type { BackendStatus, TransportEvent } from '../../contracts/transport.js';
import { AbandonedPrompts } from './abandoned-prompts.js';
import { BackendHttp } from './http-client.js';
import type { Tracked } from './in-flight-prompts.js';
import type { LocalOutputs } from './local-outputs.js';
import type { Ending } from './prompt-endings.js';
import { isObject, outputsOfNode } from './protocol.js';
import type { ReconnectOptions } from './options.js';

export interface ConnectionSettings {
  clientId: string;
  reconnect: ReconnectOptions;
  silentTimeoutMs: number;
  pingIntervalMs: number;
  requestTimeoutMs: number;
}

export interface ConnectionEvents {
  /** The prompts in flight by prompt_id (the transport's one registry): a frame's events go to its run. */
  readonly prompts: ReadonlyMap<string, Tracked>;
  /** A prompt of this backend reached its end (execution_error, execution_interrupted). */
  onEnd(tracked: Tracked, end: Ending): void;
  /** execution_success of a run whose outputs the socket may not have shown whole: they are read from /history. */
  onSuccess(tracked: Tracked): void;
  /** The socket is open again: in-flight prompts must be checked, events may have been missed. */
  onUp(backend: BackendConnection): void;
}

/**
 * progress_state repeats every node's state on every change (quadratic over a prompt) and the contract
 * has no use for it: it is skipped on its first bytes, before being decoded or parsed. Python's
 * json.dumps puts "type" first.
 */
const PROGRESS_STATE_PREFIX = Buffer.from('{"type": "progress_state"');

/** ComfyUI caps ws messages it sends (previews) well below this; it only bounds a broken peer. */
const MAX_FRAME_BYTES = 64 * 1024 * 1024;
const CLOSE_GRACE_MS = 500;

/**
 * One ComfyUI backend: its websocket (opened with the bridge's own clientId, so ComfyUI sends the
 * bridge's prompt events here), reconnect with backoff, silent-socket detection, health and
 * feature flags. It reads its own socket's frames: `status` updates its queue count here, and a
 * prompt's frames become that prompt's events, handed straight to its run's listener (the hot
 * path: one JSON.parse, one Map lookup, one call). Which prompts exist, and their ends, belong to
 * the transport's registry.
 */
export class BackendConnection {
  readonly http: BackendHttp;
  up = false;
  queueRemaining: number | null = null;
  /** Bumped on every `status` frame, so a submit can tell whether the count already includes it. */
  statusSeq = 0;
  /** The last problem seen (kept after recovery, so /ready can say what happened). */
  lastError: string | null = null;
  jobsApi = false;
  /** Cleared when a backend answers 404/405 to the jobs cancel route, so it is not tried again. */
  jobsCancel = true;
  /** When the backend was last seen going down (or the transport started, before the first connect). */
  downSince: number = Date.now();
  /**
   * The last connect attempt was refused (nothing listens: the process is gone), as opposed to a
   * backend that accepts connections but does not answer (frozen), which may still hold its queue.
   */
  refusing = false;
  /** Prompts given up on here: deleted from its queue first thing when it answers again. */
  readonly abandoned = new AbandonedPrompts();
  /** Bumped on every socket opened: a run seen whole on one socket missed no frame (Tracked.wholeRunOn). */
  socketSeq = 0;

  #ws: WebSocket | null = null;
  #attempt = 0;
  #reconnectTimer: NodeJS.Timeout | null = null;
  #watchTimer: NodeJS.Timeout | null = null;
  #lastSeen = 0;
  #lastPing = 0;
  /** When the watch last ran, and its period: a late tick means the bridge itself stalled. */
  #lastTick = 0;
  #tickMs = 0;
  #closed = false;
  /** Said once that it did not answer at start (or after it went down), so the retries stay quiet. */
  #saidDown = false;

  constructor(
    readonly name: string,
    readonly url: string,
    readonly weight: number,
    private readonly settings: ConnectionSettings,
    private readonly events: ConnectionEvents,
    private readonly log: Logger,
    closing: AbortSignal,
    /** Its output and temp folders where this machine sees them (options outputDir, tempDir): outputs are read there first. */
    readonly outputs?: LocalOutputs,
  ) {
    this.http = new BackendHttp(url, settings.requestTimeoutMs, closing);
  }

  status(): BackendStatus {
    return {
      name: this.name,
      url: this.url,
      up: this.up,
      queueRemaining: this.queueRemaining,
      lastError: this.lastError,
      jobsApi: this.jobsApi,
    };
  }

  start(): void {
    this.#connect();
  }

  #wsUrl(): string {
    const url = new URL(this.http.url('/ws'));
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('clientId', this.settings.clientId);
    return url.toString();
  }

  #connect(): void {
    if (this.#closed) return;
    this.#reconnectTimer = null;
    // No `origin` option: ws then sends no Origin header, which ComfyUI's origin check accepts.
    const ws = new WebSocket(this.#wsUrl(), {
      handshakeTimeout: this.settings.requestTimeoutMs,
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
    });
    this.#ws = ws;
    ws.on('open', () => this.#opened(ws));
    ws.on('message', (data, isBinary) => {
      this.#lastSeen = Date.now();
      if (isBinary) return;
      // binaryType is the default 'nodebuffer': one Buffer per message.
      const bytes = data as Buffer;
      if (bytes.length >= PROGRESS_STATE_PREFIX.length && PROGRESS_STATE_PREFIX.equals(bytes.subarray(0, PROGRESS_STATE_PREFIX.length))) return;
      this.#onText(bytes.toString());
    });
    ws.on('pong', () => {
      this.#lastSeen = Date.now();
    });
    ws.on('error', (error) => {
      this.lastError = error.message;
      if ((error as NodeJS.ErrnoException).code === 'ECONNREFUSED') this.refusing = true;
    });
    ws.on('close', () => this.#lost(ws));
  }

  /** Maps one text frame to the events of the prompt it names (binary frames — previews — never get here). */
  #onText(text: string): void {
    let message: { type?: unknown; data?: unknown };
    try {
      message = JSON.parse(text) as { type?: unknown; data?: unknown };
    } catch {
      return;
    }
    if (typeof message !== 'object' || message === null || typeof message.data !== 'object' || message.data === null) return;
    const data = message.data as Record<string, unknown>;
    if (message.type === 'status') {
      const status = isObject(data.status) ? data.status : undefined;
      const remaining = status && isObject(status.exec_info) ? status.exec_info.queue_remaining : undefined;
      if (typeof remaining === 'number') {
        this.queueRemaining = remaining;
        this.statusSeq += 1;
      }
      return;
    }
    const promptId = data.prompt_id;
    if (typeof promptId !== 'string') return; // e.g. the `executing` replay after a reconnect has none
    const tracked = this.events.prompts.get(promptId);
    if (!tracked) return;
    tracked.lastNewsAt = tracked.lastFrameAt = Date.now();
    const base = { promptId, backend: tracked.backend.name };
    switch (message.type) {
      case 'execution_start':
        tracked.started = true;
        tracked.wholeRunOn = -this.socketSeq; // whole once execution_cached says nothing is cached
        return this.#report(tracked, { type: 'started', ...base });
      case 'execution_cached': {
        const nodes = Array.isArray(data.nodes) ? data.nodes.map(String) : [];
        tracked.wholeRunOn = nodes.length === 0 && tracked.wholeRunOn === -this.socketSeq ? this.socketSeq : 0;
        return this.#report(tracked, { type: 'cached', ...base, nodes });
      }
      case 'executing':
        // node null follows the end of the prompt, after ComfyUI stored its history (task_done).
        if (typeof data.node === 'string') this.#report(tracked, { type: 'executing', ...base, node: data.node });
        else tracked.historyStored?.();
        return;
      case 'progress':
        if (typeof data.node === 'string' && typeof data.value === 'number' && typeof data.max === 'number') {
          this.#report(tracked, { type: 'progress', ...base, node: data.node, value: data.value, max: data.max });
        }
        return;
      case 'executed': {
        if (typeof data.node !== 'string') return;
        const node = data.node;
        const outputs = outputsOfNode(node, data.output);
        // History keeps one ui output per node: a node's later frame replaces its earlier one.
        if (tracked.seenOutputs.some((ref) => ref.node === node)) tracked.seenOutputs = tracked.seenOutputs.filter((ref) => ref.node !== node);
        tracked.seenOutputs.push(...outputs);
        return this.#report(tracked, { type: 'executed', ...base, node: data.node, outputs });
      }
      case 'execution_success':
        if (tracked.settling) return;
        tracked.settling = true;
        // Seen whole on this socket: its `executed` frames are the outputs history would list.
        if (tracked.wholeRunOn === this.socketSeq) return this.events.onEnd(tracked, { type: 'completed', outputs: tracked.seenOutputs });
        return this.events.onSuccess(tracked);
      case 'execution_error':
        return this.events.onEnd(tracked, {
          type: 'failed',
          node: typeof data.node_id === 'string' ? data.node_id : null,
          nodeType: typeof data.node_type === 'string' ? data.node_type : null,
          exceptionType: typeof data.exception_type === 'string' ? data.exception_type : null,
          message:
            typeof data.exception_message === 'string' && data.exception_message.trim()
              ? data.exception_message.trim()
              : 'the prompt failed on the backend',
        });
      case 'execution_interrupted':
        return this.events.onEnd(tracked, { type: 'interrupted', node: typeof data.node_id === 'string' ? data.node_id : null });
      default:
        return; // progress_state and others carry nothing the contract needs
    }
  }

  /** A progress event, straight to the run's owner (a listener that throws is logged, not fatal). */
  #report(tracked: Tracked, event: TransportEvent): void {
    try {
      tracked.listener(event);
    } catch (error) {
      this.log.error({ err: error, event: event.type, promptId: event.promptId }, 'prompt listener threw');
    }
  }

  #opened(ws: WebSocket): void {
    if (ws !== this.#ws) return;
    this.up = true;
    this.socketSeq += 1;
    this.refusing = false;
    this.#attempt = 0;
    this.#lastSeen = Date.now();
    this.#lastPing = this.#lastSeen;
    const tick = Math.max(5, Math.min(this.settings.pingIntervalMs, Math.floor(this.settings.silentTimeoutMs / 3)));
    this.#tickMs = tick;
    this.#lastTick = this.#lastSeen;
    this.#watchTimer = setInterval(() => this.#watch(ws), tick);
    this.#saidDown = false;
    this.log.info({ backend: this.name, url: this.url }, 'ComfyUI backend connected');
    // Prompts moved away while it was down are deleted before anything else; then feature flags, so
    // the reconciliation that onUp starts can use the jobs routes.
    void this.abandoned
      .purge(this.http, this.log, this.name)
      .then(() => this.detectFeatures())
      .finally(() => {
        if (ws === this.#ws && this.up) this.events.onUp(this);
      });
  }

  /** Pings, and replaces a socket that stayed silent (no frame, no pong) too long. */
  #watch(ws: WebSocket): void {
    const now = Date.now();
    const sinceTick = now - this.#lastTick;
    this.#lastTick = now;
    if (sinceTick > 2 * this.#tickMs + 250) {
      // Our own event loop stalled (a long synchronous task, an overloaded machine): the pongs may be
      // waiting unread, so this silence proves nothing. Judge again over a fresh window.
      this.#lastSeen = now;
    }
    if (now - this.#lastSeen > this.settings.silentTimeoutMs) {
      this.lastError = `websocket silent for ${now - this.#lastSeen} ms`;
      this.log.warn({ backend: this.name, silentMs: now - this.#lastSeen }, 'ComfyUI backend stopped answering; marked down, reconnecting');
      // Its HTTP calls would wait for their own deadline: they fail now (a submission answers 503).
      this.http.abandonWaiting(`ComfyUI backend ${this.name} stopped answering`);
      ws.terminate();
      return;
    }
    if (now - this.#lastPing >= this.settings.pingIntervalMs) {
      this.#lastPing = now;
      ws.ping();
    }
  }

  #lost(ws: WebSocket): void {
    if (ws !== this.#ws) return;
    this.#ws = null;
    if (this.#watchTimer) clearInterval(this.#watchTimer);
    this.#watchTimer = null;
    const wasUp = this.up;
    this.up = false;
    // A history read waiting for this socket's `executing` null goes ahead (and retries) without it.
    for (const tracked of this.events.prompts.values()) if (tracked.backend === this) tracked.historyStored?.();
    if (wasUp) {
      this.downSince = Date.now();
      this.#saidDown = true;
      // In-flight prompts wait: the reconnect reconciles them, or the transport's lost timer ends them.
      this.log.warn({ backend: this.name, reason: this.lastError }, 'ComfyUI backend disconnected');
    } else if (!this.#saidDown && !this.#closed) {
      // One line for a backend that does not answer from the start; the info line above says when it comes.
      this.#saidDown = true;
      this.log.warn({ backend: this.name, url: this.url, reason: this.lastError }, 'ComfyUI backend is not reachable; retrying in the background');
    }
    if (!this.#closed) this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    const { initialMs, maxMs, jitter } = this.settings.reconnect;
    const base = Math.min(maxMs, initialMs * 2 ** Math.min(this.#attempt, 30));
    const delay = Math.max(1, Math.round(base * (1 + jitter * (Math.random() * 2 - 1))));
    this.#attempt += 1;
    this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
  }

  /** Newer ComfyUI has /api/jobs; 0.3.64 answers 404 there. */
  async detectFeatures(): Promise<void> {
    try {
      const res = await this.http.json('GET', '/api/jobs?limit=1');
      this.jobsApi = res.status === 200 && isObject(res.body) && Array.isArray(res.body.jobs);
    } catch {
      // unreachable: leave the flag; the socket's close handles the health
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    if (this.#watchTimer) clearInterval(this.#watchTimer);
    this.#reconnectTimer = null;
    this.#watchTimer = null;
    const ws = this.#ws;
    this.#ws = null;
    this.up = false;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        ws.terminate();
        resolve();
      }, CLOSE_GRACE_MS);
      ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1001, 'bridge shutting down');
    });
  }
}
