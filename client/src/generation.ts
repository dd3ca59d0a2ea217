import { GenerationFailedError } from './errors.js';
import type { FollowOptions, FrameStream } from './socket.js';
import type { Queued, SocketFrame, StatusFrame } from './types.js';

export interface GenerationResult {
  id: string;
  /** The output files, as URLs on the bridge (GET them, or `client.results.download(url)`). */
  urls: string[];
  /** The final status frame. */
  frame: StatusFrame;
}

export interface GenerationHost {
  follow(clientId: string, options?: FollowOptions): FrameStream;
  executionInfo(query: { id: string }): Promise<StatusFrame>;
}

/** A generation the bridge accepted: follow its frames, wait for its results, or interrupt it. */
export class Generation {
  readonly id: string;
  readonly clientId: string;
  readonly workflow: string;
  #done: Promise<GenerationResult> | undefined;
  /** Its last frame, once seen. */
  #final: SocketFrame | undefined;

  constructor(
    private readonly host: GenerationHost,
    /** The answer of POST /generate-based-workflow: queued, or (with wait) the final frame. */
    readonly answer: Queued | StatusFrame,
    clientId: string,
    private readonly interruptFn: () => Promise<unknown>,
  ) {
    this.id = 'id' in answer ? answer.id : answer.data.id;
    this.workflow = 'workflow' in answer ? answer.workflow : answer.data.workflow;
    this.clientId = clientId;
    if ('status' in answer && answer.status !== 'queued') this.#final = answer as SocketFrame;
  }

  /**
   * This generation's frames (progress, then closed or error), live from the websocket; ends after its
   * last frame. Survives dropped connections without losing or repeating a frame.
   */
  async *frames(options: Omit<FollowOptions, 'socketFrames'> = {}): AsyncGenerator<SocketFrame> {
    if (this.#final) {
      yield this.#final;
      return;
    }
    for (;;) {
      const stream = this.host.follow(this.clientId, options);
      try {
        // Frames of a generation that ended before the socket opened may never come (another socket of
        // the client took them): once the socket is open, its state says whether to wait at all.
        await stream.opened;
        const now = await this.host.executionInfo({ id: this.id });
        if (now.status !== 'progress') {
          yield (this.#final = now as SocketFrame);
          return;
        }
        for await (const frame of stream) {
          if (frame.data?.id !== this.id) continue;
          if (isFinal(frame)) this.#final = frame;
          yield frame;
          if (isFinal(frame)) return;
        }
      } finally {
        stream.close();
      }
      // The server ended the socket before this generation's end (another generation of the client
      // ended, or an idle time out): follow again from where this stream stopped.
      options = { ...options, since: stream.lastSeq };
    }
  }

  /** Resolves with the result URLs once the generation completed; rejects with GenerationFailedError otherwise. */
  done(): Promise<GenerationResult> {
    return (this.#done ??= this.#wait());
  }

  /** Cancels it (queued: removed; running: interrupted on its backend). */
  async interrupt(): Promise<void> {
    await this.interruptFn();
  }

  async #wait(): Promise<GenerationResult> {
    let last: SocketFrame | undefined;
    for await (const frame of this.frames()) last = frame;
    if (last?.status === 'closed' && last.data?.state === 'completed') {
      // The success `closed` carries the full data; ask once if a shortened frame arrived.
      const frame = last.data.result_urls ? (last as StatusFrame) : await this.host.executionInfo({ id: this.id });
      return { id: this.id, urls: frame.data.result_urls, frame };
    }
    const data = { id: this.id, state: last?.data?.state ?? 'failed' };
    throw new GenerationFailedError({ details: last?.details ?? 'the generation ended without results', data });
  }
}

/** The last frame of a generation: its `closed` or its `error`. */
export const isFinal = (frame: SocketFrame): boolean => frame.status === 'error' || frame.status === 'closed';
