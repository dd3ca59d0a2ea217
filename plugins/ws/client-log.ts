/** One numbered generation frame as it went on the wire. */
export interface LoggedFrame {
  seq: number;
  at: number;
  generationId: string;
  /** The `closed` (or `error` + `closed`) that ends a generation's frames. */
  ends: boolean;
  bytes: Buffer;
}

interface GenerationTrack {
  /** status|details|state of the last frame sent, so an unchanged progress is not sent twice. */
  key: string;
  lastSeq: number;
  ended: boolean;
}

export interface ReplayLimits {
  maxFrames: number;
  maxAgeMs: number;
}

/** How many generation tracks a client keeps (dedupe state); older ones are forgotten first. */
const MAX_TRACKS = 64;

/**
 * The numbered frame history of one clientId: `seq` increases by one per frame, the last frames
 * are kept (bounded by count and age) for `&since=` replay, and each generation's last frame key
 * is remembered so an unchanged progress is not numbered twice.
 */
export class ClientLog {
  lastSeq = 0;
  lastAt = 0;
  /** seq of the first frame published while no socket of the client was open (null: all delivered). */
  undeliveredFrom: number | null = null;
  readonly #frames: LoggedFrame[] = [];
  readonly #tracks = new Map<string, GenerationTrack>();

  constructor(private readonly limits: ReplayLimits) {}

  track(generationId: string): GenerationTrack {
    let track = this.#tracks.get(generationId);
    if (!track) {
      track = { key: '', lastSeq: 0, ended: false };
      this.#tracks.set(generationId, track);
      if (this.#tracks.size > MAX_TRACKS) this.#tracks.delete(this.#tracks.keys().next().value as string);
    }
    return track;
  }

  /** Numbers a frame and keeps it for replay; `build` gets the seq and returns the encoded frame. */
  append(generationId: string, ends: boolean, delivered: boolean, build: (seq: number) => Buffer, now: number): LoggedFrame {
    const seq = ++this.lastSeq;
    const frame: LoggedFrame = { seq, at: now, generationId, ends, bytes: build(seq) };
    this.lastAt = now;
    this.track(generationId).lastSeq = seq;
    if (!delivered && this.undeliveredFrom === null) this.undeliveredFrom = seq;
    if (this.limits.maxFrames > 0) {
      this.#frames.push(frame);
      this.prune(now);
    }
    return frame;
  }

  /** Drops frames beyond the count or older than the age limit. */
  prune(now: number): void {
    const frames = this.#frames;
    let drop = Math.max(0, frames.length - this.limits.maxFrames);
    while (drop < frames.length && now - frames[drop]!.at > this.limits.maxAgeMs) drop++;
    if (drop > 0) frames.splice(0, drop);
  }

  /**
   * The kept frames after `since` (fewer than were published when some were dropped already).
   * A `since` beyond the last seq comes from before a restart of the bridge: every kept frame is new then.
   */
  after(since: number, now: number): LoggedFrame[] {
    this.prune(now);
    const from = since > this.lastSeq ? 0 : since;
    const start = this.#frames.findIndex((frame) => frame.seq > from);
    return start === -1 ? [] : this.#frames.slice(start);
  }

  /** Whether nothing is kept any more and nothing happened for `idleMs`: the log can be forgotten. */
  isStale(now: number, idleMs: number): boolean {
    this.prune(now);
    return this.#frames.length === 0 && now - this.lastAt > idleMs;
  }
}
