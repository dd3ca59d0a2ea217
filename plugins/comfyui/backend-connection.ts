import WebSocket from 'ws';
import type { Logger } from 'pino';
import type { BackendStatus } from '../../contracts/transport.js';
import { BackendHttp } from './http-client.js';
import { isObject } from './protocol.js';
import type { ReconnectOptions } from './options.js';

export interface ConnectionSettings {
  clientId: string;
  reconnect: ReconnectOptions;
  silentTimeoutMs: number;
  pingIntervalMs: number;
  requestTimeoutMs: number;
}

export interface ConnectionEvents {
  /** A text frame (binary frames — previews, progress text — are dropped here). */
  onText(backend: BackendConnection, text: string): void;
  /** The socket is open again: in-flight prompts must be checked, events may have been missed. */
  onUp(backend: BackendConnection): void;
}

/** ComfyUI caps ws messages it sends (previews) well below this; it only bounds a broken peer. */
const MAX_FRAME_BYTES = 64 * 1024 * 1024;
const CLOSE_GRACE_MS = 500;

/**
 * One ComfyUI backend: its websocket (opened with the bridge's own clientId, so ComfyUI sends the
 * bridge's prompt events here), reconnect with backoff, silent-socket detection, health and
 * feature flags. It knows nothing about prompts; the transport does.
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

  #ws: WebSocket | null = null;
  #attempt = 0;
  #reconnectTimer: NodeJS.Timeout | null = null;
  #watchTimer: NodeJS.Timeout | null = null;
  #lastSeen = 0;
  #lastPing = 0;
  #closed = false;

  constructor(
    readonly name: string,
    readonly url: string,
    readonly weight: number,
    private readonly settings: ConnectionSettings,
    private readonly events: ConnectionEvents,
    private readonly log: Logger,
    closing: AbortSignal,
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
      this.events.onText(this, data.toString());
    });
    ws.on('pong', () => {
      this.#lastSeen = Date.now();
    });
    ws.on('error', (error) => {
      this.lastError = error.message;
    });
    ws.on('close', () => this.#lost(ws));
  }

  #opened(ws: WebSocket): void {
    if (ws !== this.#ws) return;
    this.up = true;
    this.#attempt = 0;
    this.#lastSeen = Date.now();
    this.#lastPing = this.#lastSeen;
    const tick = Math.max(5, Math.min(this.settings.pingIntervalMs, Math.floor(this.settings.silentTimeoutMs / 3)));
    this.#watchTimer = setInterval(() => this.#watch(ws), tick);
    this.log.info({ backend: this.name, url: this.url }, 'ComfyUI backend connected');
    // Feature flags first, so the reconciliation that onUp starts can use the jobs routes.
    void this.detectFeatures().finally(() => {
      if (ws === this.#ws && this.up) this.events.onUp(this);
    });
  }

  /** Pings, and replaces a socket that stayed silent (no frame, no pong) too long. */
  #watch(ws: WebSocket): void {
    const now = Date.now();
    if (now - this.#lastSeen > this.settings.silentTimeoutMs) {
      this.lastError = `websocket silent for ${now - this.#lastSeen} ms`;
      this.log.warn({ backend: this.name }, 'ComfyUI websocket went silent; reconnecting');
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
    if (wasUp) {
      this.downSince = Date.now();
      // In-flight prompts wait: the reconnect reconciles them, or the transport's lost timer ends them.
      this.log.warn({ backend: this.name, reason: this.lastError }, 'ComfyUI backend disconnected');
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
