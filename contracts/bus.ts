/**
 * The message bus: publish/subscribe by topic, the seam between the plugin that produces events
 * (generations publishes each client's frames) and the plugins that deliver them (ws). The default
 * implementation (plugins/bus) lives in one process; a fleet puts one behind PostgreSQL with the same
 * contract, so everything here is written for several processes:
 * - the bus numbers messages when they are published (`seq`, +1 per message of a topic), so every
 *   subscriber, on any instance, sees the same numbers;
 * - delivery is at least once and in seq order per topic: a subscriber drops a seq it has seen;
 * - a subscriber that was away (a reconnecting socket, a late instance) asks `replay` for what it
 *   missed, within the bus's replay window.
 */
export interface BusMessage<T = unknown> {
  topic: string;
  /** 1, 2, 3… per topic, assigned once when the message was published. */
  seq: number;
  /** Epoch ms when it was published. */
  at: number;
  payload: T;
}

export interface Bus {
  /**
   * Numbers the message, keeps it for replay and delivers it to the topic's subscribers. A topic's
   * messages published by one process are numbered in the order of the calls, whatever resolves first.
   */
  publish<T>(topic: string, payload: T): Promise<BusMessage<T>>;
  /**
   * Optional: publish, done when it returns (a bus that numbers and delivers in the caller's turn, as the
   * in-process one does). The hot path (one frame per progress event) then needs no promise to wait on.
   */
  publishNow?<T>(topic: string, payload: T): BusMessage<T>;
  /**
   * Optional: takes the message now, in call order, and numbers, keeps and delivers it later, with nothing
   * to wait on (a bus whose publish waits for a database; the hot path then need not). Its seq follows
   * those of every message this process published on the topic before the call, by any method, and
   * precedes those after. A message the bus cannot publish is logged and counted by the bus, never
   * numbered: a failure leaves a message missing, never a gap, a repeat or a reordering of seqs.
   */
  publishLater?<T>(topic: string, payload: T): void;
  /** Live messages of one topic, in seq order, from now on. Returns the unsubscribe function. */
  subscribe<T>(topic: string, listener: (message: BusMessage<T>) => void): () => void;
  /** The kept messages of a topic with seq > since, oldest first (fewer when the window dropped some). */
  replay<T>(topic: string, since: number): Promise<BusMessage<T>[]>;
  /** The seq of the topic's last message, 0 when it has none. */
  lastSeq(topic: string): Promise<number>;
}

declare module '../core/services.js' {
  interface ServiceMap {
    /** Publish/subscribe by topic; in-process (plugins/bus) or across instances. */
    bus: Bus;
  }
}
