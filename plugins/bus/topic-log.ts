import type { BusMessage } from '../../contracts/bus.js';

export interface ReplayWindow {
  /** Messages kept per topic… */
  maxMessages: number;
  /** …and none older than this. */
  maxAgeMs: number;
}

/** One topic: its last seq, the messages kept for replay, and its live subscribers. */
export class TopicLog {
  lastSeq = 0;
  lastAt = 0;
  readonly listeners = new Set<(message: BusMessage) => void>();
  readonly #kept: BusMessage[] = [];

  constructor(private readonly window: ReplayWindow) {}

  append(topic: string, payload: unknown, now: number): BusMessage {
    const message: BusMessage = { topic, seq: ++this.lastSeq, at: now, payload };
    this.lastAt = now;
    if (this.window.maxMessages > 0) {
      this.#kept.push(message);
      this.prune(now);
    }
    return message;
  }

  after(since: number, now: number): BusMessage[] {
    this.prune(now);
    const start = this.#kept.findIndex((message) => message.seq > since);
    return start === -1 ? [] : this.#kept.slice(start);
  }

  prune(now: number): void {
    const kept = this.#kept;
    let drop = Math.max(0, kept.length - this.window.maxMessages);
    while (drop < kept.length && now - kept[drop]!.at > this.window.maxAgeMs) drop++;
    if (drop > 0) kept.splice(0, drop);
  }

  /** Nothing kept, nobody listening, quiet for idleMs: the topic can be forgotten (its seq restarts at 1). */
  isStale(now: number, idleMs: number): boolean {
    this.prune(now);
    return this.#kept.length === 0 && this.listeners.size === 0 && now - this.lastAt > idleMs;
  }
}
