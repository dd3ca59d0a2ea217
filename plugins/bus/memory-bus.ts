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
    return Promise.resolve((this.#topics.get(topic)?.after(since, this.now()) ?? []) as BusMessage<T>[]);
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
 * sent its first `maxMessages`).
 */
class TopicLog {
  lastSeq = 0;
  lastAt = 0;
  readonly listeners = new Set<Listener>();
  /** The one listener in `listeners` when there is exactly one. */
  only: Listener | undefined;
  readonly #ring: (BusMessage | undefined)[] = [];
  #head = 0;
  #size = 0;
  /** When the oldest kept message was published: the age check on every publish reads no message. */
  #oldestAt = 0;

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
        this.#ring[(this.#head + this.#size) % max] = message;
        if (this.#size++ === 0) this.#oldestAt = now;
      } else {
        this.#ring[this.#head] = message;
        this.#head = (this.#head + 1) % max;
        this.#oldestAt = this.#ring[this.#head]!.at;
      }
      this.prune(now);
    }
    return message;
  }

  after(since: number, now: number): BusMessage[] {
    this.prune(now);
    const max = this.window.maxMessages;
    const found: BusMessage[] = [];
    for (let i = 0; i < this.#size; i++) {
      const message = this.#ring[(this.#head + i) % max]!;
      if (message.seq > since) found.push(message);
    }
    return found;
  }

  /** Drops the kept messages older than the window's age, oldest first. */
  prune(now: number): void {
    if (this.#size === 0 || now - this.#oldestAt <= this.window.maxAgeMs) return;
    const max = this.window.maxMessages;
    while (this.#size > 0 && now - this.#ring[this.#head]!.at > this.window.maxAgeMs) {
      this.#ring[this.#head] = undefined;
      this.#head = (this.#head + 1) % max;
      this.#size--;
    }
    if (this.#size > 0) this.#oldestAt = this.#ring[this.#head]!.at;
  }

  /** Nothing kept, nobody listening, quiet for idleMs: the topic can be forgotten (its seq restarts at 1). */
  isStale(now: number, idleMs: number): boolean {
    this.prune(now);
    return this.#size === 0 && this.listeners.size === 0 && now - this.lastAt > idleMs;
  }
}
