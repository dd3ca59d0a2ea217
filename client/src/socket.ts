import { ConnectionLostError } from './errors.js';
import type { SocketFrame } from './types.js';

/** The part of the WebSocket API the SDK uses: the browser's native one and the `ws` package both have it. */
export interface WebSocketLike {
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'message' | 'close' | 'error', listener: (event: { data?: unknown; code?: number }) => void): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** The native WebSocket (browsers, Node 22+), else the `ws` package (Node 20). */
export async function webSocketConstructor(given?: WebSocketConstructor): Promise<WebSocketConstructor> {
  if (given) return given;
  const native = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (native) return native;
  // A variable specifier: browser bundlers must not try to bundle `ws`, which only Node needs.
  const name = 'ws';
  const module = (await import(/* @vite-ignore */ name)) as { WebSocket?: WebSocketConstructor; default?: WebSocketConstructor };
  const found = module.WebSocket ?? module.default;
  if (!found) throw new Error('no WebSocket: install the "ws" package on Node 20');
  return found;
}

export interface Backoff {
  /** First wait before reconnecting. */
  initialMs: number;
  /** Longest wait. */
  maxMs: number;
  /** Reconnections in a row without a successful open before giving up (ConnectionLostError). */
  retries: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 250, maxMs: 5000, retries: 10 };

export interface FollowOptions {
  /** Resume after this seq (the last generation frame you received). */
  since?: number;
  /** Also yield per-socket frames (`connected`, `listening`, an idle time out's `error`/`closed`). */
  socketFrames?: boolean;
  signal?: AbortSignal;
  reconnect?: Partial<Backoff>;
}

interface Opened {
  url: (since: number | undefined) => string;
  WebSocket: () => Promise<WebSocketConstructor>;
}

/**
 * The frames of one clientId, across reconnections. A socket that drops (anything but the server's
 * normal close, code 1000) is reopened with backoff and `&since=<last seq>`, so the server replays what
 * was missed; a frame whose seq was already yielded is dropped, so none is repeated. Ends when the
 * server closes normally (after a generation's end, an idle time out) or on close()/abort.
 */
export class FrameStream implements AsyncIterableIterator<SocketFrame> {
  /** The seq of the last generation frame yielded: pass it as `since` to resume elsewhere. */
  lastSeq: number | undefined;
  /** Sockets opened so far (1 + reconnections). */
  connections = 0;
  /** Settles when the first socket opened (or the stream ended without one). */
  readonly opened: Promise<void>;
  #markOpened!: () => void;
  readonly #queue: SocketFrame[] = [];
  #wake: (() => void) | undefined;
  #ended = false;
  #failure: Error | undefined;
  #socket: WebSocketLike | undefined;
  #stopped = false;
  readonly #backoff: Backoff;

  constructor(
    private readonly open: Opened,
    private readonly options: FollowOptions = {},
  ) {
    this.lastSeq = options.since;
    this.opened = new Promise((resolve) => (this.#markOpened = resolve));
    this.#backoff = { ...DEFAULT_BACKOFF, ...options.reconnect };
    options.signal?.addEventListener('abort', () => this.close());
    void this.#run().catch((error: unknown) => this.#end(error as Error));
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<SocketFrame>> {
    for (;;) {
      const frame = this.#queue.shift();
      if (frame) return { value: frame, done: false };
      if (this.#failure) throw this.#failure;
      if (this.#ended) return { value: undefined, done: true };
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  async return(): Promise<IteratorResult<SocketFrame>> {
    this.close();
    return { value: undefined, done: true };
  }

  /** Stops following and closes the socket. */
  close(): void {
    this.#stopped = true;
    this.#socket?.close(1000);
    this.#end();
  }

  async #run(): Promise<void> {
    const WebSocket = await this.open.WebSocket();
    let failures = 0;
    while (!this.#stopped) {
      const { opened, code } = await this.#connect(WebSocket);
      if (this.#stopped) return;
      if (opened && code === 1000) return this.#end();
      failures = opened ? 1 : failures + 1;
      if (failures > this.#backoff.retries) return this.#end(new ConnectionLostError(`the websocket closed ${failures} times in a row (last code ${code})`));
      const wait = Math.min(this.#backoff.maxMs, this.#backoff.initialMs * 2 ** (failures - 1));
      await new Promise((resolve) => setTimeout(resolve, wait * (0.75 + Math.random() / 2)));
    }
  }

  #connect(WebSocket: WebSocketConstructor): Promise<{ opened: boolean; code: number }> {
    return new Promise((resolve) => {
      let opened = false;
      const socket = new WebSocket(this.open.url(this.lastSeq));
      this.#socket = socket;
      socket.addEventListener('open', () => {
        opened = true;
        this.connections++;
        this.#markOpened();
      });
      socket.addEventListener('message', (event) => this.#receive(event.data));
      // 'error' is always followed by 'close'.
      socket.addEventListener('close', (event) => resolve({ opened, code: event.code ?? 1006 }));
    });
  }

  #receive(data: unknown): void {
    let frame: SocketFrame;
    try {
      frame = JSON.parse(typeof data === 'string' ? data : String(data)) as SocketFrame;
    } catch {
      return;
    }
    if (frame.seq === undefined) {
      if (this.options.socketFrames) this.#push(frame);
      return;
    }
    // A replayed or snapshot frame this stream already yielded.
    if (this.lastSeq !== undefined && frame.seq <= this.lastSeq) return;
    this.lastSeq = frame.seq;
    this.#push(frame);
  }

  #push(frame: SocketFrame): void {
    this.#queue.push(frame);
    this.#wake?.();
  }

  #end(failure?: Error): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#failure = failure;
    this.#markOpened();
    this.#wake?.();
  }
}
