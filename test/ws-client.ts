import { WebSocket } from 'ws';

/** A frame as the bridge sends it (SPEC §2.1). */
export interface Frame {
  status: string;
  details: string;
  seq?: number;
  snapshot?: boolean;
  data?: Record<string, unknown>;
}

export interface Closed {
  code: number;
  reason: string;
}

/**
 * A websocket client that keeps every frame it receives, in order, so a test can wait for the one
 * it needs and then assert on the whole sequence.
 */
export class FrameReader {
  readonly frames: Frame[] = [];
  readonly closed: Promise<Closed>;
  #cursor = 0;
  #wake: (() => void) | undefined;
  #isClosed = false;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.frames.push(JSON.parse(data.toString()) as Frame);
      this.#wake?.();
    });
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        this.#isClosed = true;
        this.#wake?.();
        resolve({ code, reason: reason.toString() });
      });
    });
    ws.on('error', () => undefined);
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<FrameReader> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      const reader = new FrameReader(ws);
      ws.once('open', () => resolve(reader));
      ws.once('unexpected-response', (_request, response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => reject(Object.assign(new Error(`upgrade refused: ${response.statusCode}`), { status: response.statusCode, body })));
      });
      ws.once('error', reject);
    });
  }

  /** The next frame (after the last one returned) that matches, waiting for it if needed. */
  async next(match: (frame: Frame) => boolean = () => true, timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.#cursor < this.frames.length) {
        const frame = this.frames[this.#cursor++]!;
        if (match(frame)) return frame;
      }
      if (this.#isClosed) throw new Error(`socket closed before the expected frame; got ${JSON.stringify(this.frames)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  /** Waits for the server to close the socket. */
  async untilClosed(timeoutMs = 5000): Promise<Closed> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Frames about generations (numbered), without heartbeats. */
  generationFrames(): Frame[] {
    return this.frames.filter((frame) => frame.seq !== undefined);
  }

  /** Frames other than heartbeats. */
  meaningful(): Frame[] {
    return this.frames.filter((frame) => frame.status !== 'listening');
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
  }
}

/** Opens a socket that the server must refuse; resolves with the HTTP status and parsed JSON body. */
export async function refusedUpgrade(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  try {
    const reader = await FrameReader.open(url, headers);
    reader.close();
  } catch (error) {
    const { status, body } = error as { status?: number; body?: string };
    if (status === undefined) throw error;
    return { status, body: JSON.parse(body ?? '{}') as Record<string, unknown> };
  }
  throw new Error(`upgrade to ${url} was accepted`);
}

export const wsUrl = (httpUrl: string, query: string): string => `${httpUrl.replace(/^http/, 'ws')}/ws${query}`;
