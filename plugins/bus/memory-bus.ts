import type { Bus, BusMessage } from '../../contracts/bus.js';
import { TopicLog, type ReplayWindow } from './topic-log.js';

/**
 * The bus inside one process: seq per topic, a bounded replay window, synchronous delivery in seq
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
    const log = this.#topic(topic);
    const message = log.append(topic, payload, this.now()) as BusMessage<T>;
    for (const listener of log.listeners) {
      try {
        listener(message);
      } catch (error) {
        this.onListenerError(error, topic);
      }
    }
    return Promise.resolve(message);
  }

  subscribe<T>(topic: string, listener: (message: BusMessage<T>) => void): () => void {
    const { listeners } = this.#topic(topic);
    const entry = listener as (message: BusMessage) => void;
    listeners.add(entry);
    return () => void listeners.delete(entry);
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
