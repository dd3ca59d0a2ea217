import { WebSocket } from 'ws';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Frame {
  status: string;
  seq?: number;
  data?: { id?: string };
}

/** A client's socket through the proxy that reconnects with `since=` (to any instance) until told to stop. */
export class Follower {
  readonly bySeq = new Map<number, Frame>();
  #ws: WebSocket | undefined;
  #stopped = false;
  constructor(
    private readonly base: string,
    readonly clientId: string,
  ) {}

  start(): void {
    if (this.#stopped) return;
    const last = Math.max(0, ...this.bySeq.keys());
    const ws = new WebSocket(`${this.base.replace('http', 'ws')}/ws?clientId=${this.clientId}${last > 0 ? `&since=${last}` : ''}`);
    this.#ws = ws;
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const frame = JSON.parse(data.toString()) as Frame;
      if (typeof frame.seq === 'number') this.bySeq.set(frame.seq, frame);
    });
    ws.on('error', () => undefined);
    ws.on('close', () => void pause(50).then(() => this.start()));
  }

  /** The generations this client saw end (a `closed` or `error` frame naming it). */
  ended(): Set<string> {
    return new Set([...this.bySeq.values()].filter((f) => (f.status === 'closed' || f.status === 'error') && f.data?.id).map((f) => f.data!.id!));
  }

  stop(): void {
    this.#stopped = true;
    this.#ws?.terminate();
  }
}
