import type { Bus, BusMessage } from '../../contracts/bus.js';

/**
 * The bus inside one process (one file: a published frame passes through no other file of the bus): seq per topic, a bounded replay window, synchronous delivery in seq
 * order (a listener that throws does not stop the others). Topics with nothing kept and nobody
 * listening are forgotten by `sweep`.
 */
export class MemoryBus implements Bus {
  readonly #topics = new Map<string, TopicLog>();

  constructor(
    private readonly window: ReplayWindow,
    private readonly onListenerError: (error: unknown, topic: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  publish<T>(topic: string, payload: T): Promise<BusMessage<T>> {
    return Promise.resolve(this.publishNow(topic, payload));
  }

  /** Numbered, kept and delivered before it returns. */
  publishNow<T>(topic: string, payload: T): BusMessage<T> {
    const log = this.#topic(topic);
    const message = log.append(topic, payload, this.now()) as BusMessage<T>;
    // A topic with one subscriber (a client's frames, watched by its ws hub) is delivered to without walking the Set.
    if (log.only) this.#call(log.only, message, topic);
    else for (const listener of log.listeners) this.#call(listener, message, topic);
    return message;
  }

  #call(listener: Listener, message: BusMessage, topic: string): void {
    try {
      listener(message);
    } catch (error) {
      this.onListenerError(error, topic);
    }
  }

  subscribe<T>(topic: string, listener: (message: BusMessage<T>) => void): () => void {
    const log = this.#topic(topic);
    const entry = listener as Listener;
    log.listen(entry);
    return () => log.unlisten(entry);
  }

  replay<T>(topic: string, since: number): Promise<BusMessage<T>[]> {
    return Promise.resolve((this.#topics.get(topic)?.after(topic, since, this.now()) ?? []) as BusMessage<T>[]);
  }

  lastSeq(topic: string): Promise<number> {
    return Promise.resolve(this.#topics.get(topic)?.lastSeq ?? 0);
  }

  /** Forgets idle topics; returns how many are left. */
  sweep(idleMs: number): number {
    const now = this.now();
    for (const [topic, log] of this.#topics) if (log.isStale(now, idleMs)) this.#topics.delete(topic);
    return this.#topics.size;
  }

  #topic(topic: string): TopicLog {
    let log = this.#topics.get(topic);
    if (!log) {
      log = new TopicLog(this.window);
      this.#topics.set(topic, log);
    }
    return log;
  }
}

type Listener = (message: BusMessage) => void;

export interface ReplayWindow {
  /** Messages kept per topic… */
  maxMessages: number;
  /** …and none older than this. */
  maxAgeMs: number;
}

/**
 * One topic: its last seq, the messages kept for replay, and its live subscribers. The kept messages
 * are a ring of `maxMessages` slots, oldest at `#head`: a publish on a full window overwrites the
 * oldest instead of shifting the whole array (it did, with `splice`, on every publish once a topic had
 * sent its first `maxMessages`). A kept message is its payload and its time, in two rings side by side
 * (the times as unboxed doubles); its seq follows from its place, since a topic's kept seqs are
 * consecutive (one per publish, the oldest dropped first). The BusMessage a publish delivers is not kept,
 * and replay makes new ones: every frame of every client is kept, and on the fan-out bench the kept
 * message object and its boxed time were two of the five objects per frame that live long enough to be
 * copied by the young-generation collector and promoted (docs/performance.md, "Fan-out, wave 11").
 */
class TopicLog {
  lastSeq = 0;
  lastAt = 0;
  readonly listeners = new Set<Listener>();
  /** The one listener in `listeners` when there is exactly one. */
  only: Listener | undefined;
  readonly #payloads: unknown[] = [];
  readonly #ats: number[] = [];
  #head = 0;
  #size = 0;

  constructor(private readonly window: ReplayWindow) {}

  listen(listener: Listener): void {
    this.listeners.add(listener);
    this.#single();
  }

  unlisten(listener: Listener): void {
    this.listeners.delete(listener);
    this.#single();
  }

  #single(): void {
    this.only = this.listeners.size === 1 ? this.listeners.values().next().value : undefined;
  }

  append(topic: string, payload: unknown, now: number): BusMessage {
    const message: BusMessage = { topic, seq: ++this.lastSeq, at: now, payload };
    this.lastAt = now;
    const max = this.window.maxMessages;
    if (max > 0) {
      if (this.#size < max) {
        const slot = (this.#head + this.#size++) % max;
        this.#payloads[slot] = payload;
        this.#ats[slot] = now;
      } else {
        this.#payloads[this.#head] = payload;
        this.#ats[this.#head] = now;
        this.#head = (this.#head + 1) % max;
      }
      this.prune(now);
    }
    return message;
  }

  after(topic: string, since: number, now: number): BusMessage[] {
    this.prune(now);
    const max = this.window.maxMessages;
    const found: BusMessage[] = [];
    // The seq of the oldest kept message: the kept ones are the last #size published. (Seqs are integers:
    // seq > since is seq > floor(since).)
    const first = this.lastSeq - this.#size + 1;
    for (let i = Math.max(0, Math.floor(since) - first + 1); i < this.#size; i++) {
      const slot = (this.#head + i) % max;
      found.push({ topic, seq: first + i, at: this.#ats[slot]!, payload: this.#payloads[slot] });
    }
    return found;
  }

  /** Drops the kept messages older than the window's age, oldest first. */
  prune(now: number): void {
    if (this.#size === 0 || now - this.#ats[this.#head]! <= this.window.maxAgeMs) return;
    const max = this.window.maxMessages;
    while (this.#size > 0 && now - this.#ats[this.#head]! > this.window.maxAgeMs) {
      this.#payloads[this.#head] = undefined;
      this.#head = (this.#head + 1) % max;
      this.#size--;
    }
  }

  /** Nothing kept, nobody listening, quiet for idleMs: the topic can be forgotten (its seq restarts at 1). */
  isStale(now: number, idleMs: number): boolean {
    this.prune(now);
    return this.#size === 0 && this.listeners.size === 0 && now - this.lastAt > idleMs;
  }
}
