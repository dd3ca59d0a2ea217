import pg from 'pg';
import type { Bus, BusMessage } from '../../contracts/bus.js';
import { Publisher, PUBLISH_DEPTH } from './publisher.js';
import { ensureBusTables } from './tables.js';
import { requireSynchronousCommit } from '../../lib/synchronous-commit.js';

export { PUBLISH_DEPTH };

/** One NOTIFY channel for every topic: each instance holds one LISTEN connection and filters in-process. */
export const CHANNEL = 'comfy_bridge_bus';
/** NOTIFY payloads are capped at 8000 bytes: a bigger message is announced by topic and seq only. */
const INLINE_LIMIT = 7000;
/**
 * publishLater refuses (counts as lost) beyond this many messages waiting for a statement: nothing waits
 * for those messages, so a database that stopped answering would otherwise let them pile up in memory
 * (publish, which callers await, is not bounded: its callers are).
 */
const MAX_BACKLOG = 10_000;

export interface PostgresBusOptions {
  url: string;
  poolSize: number;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  /** Messages kept per topic for replay… */
  replayWindow: number;
  /** …and none older than this. */
  replayWindowMs: number;
  applicationName?: string;
  onListenerError: (error: unknown, topic: string) => void;
  onConnectionError?: (error: unknown) => void;
  /** Messages of publishLater that could not be published (once per failure, however many messages it took). */
  onPublishError?: (error: unknown, messages: number) => void;
  now?: () => number;
  /** Publishing statements on the wire at once (default PUBLISH_DEPTH; bench/fleet.ts compares others). */
  publishDepth?: number;
}

type Listener = (message: BusMessage) => void;

const ignore = (): void => undefined;

/** A topic this instance listens to: its listeners, the last seq handed to them, and a queue so deliveries stay in order. */
interface Subscription {
  listeners: Set<Listener>;
  delivered: number | null;
  queue: Promise<void>;
}

/** What a notification carries: always topic and seq; the message itself when it fitted. */
interface Notice {
  t: string;
  s: number;
  a?: number;
  p?: unknown;
}

/**
 * The bus across instances (contracts/bus.ts) on PostgreSQL. Publishing numbers the message inside the
 * database (the topic's row is bumped and locked in the same statement, so publishers of a topic are
 * serialised and commit in seq order), keeps it in bus_messages for replay and NOTIFYs it in that
 * transaction. NOTIFY is delivered at commit, in commit order, to every listening session; a subscriber
 * that sees a gap (a lost connection, a message too big to inline) reads the missing seqs from the
 * table. So delivery is in seq order and at least once, and every instance sees the same numbers.
 */
export class PostgresBus implements Bus {
  readonly #pool: pg.Pool;
  readonly #subscriptions = new Map<string, Subscription>();
  readonly #now: () => number;
  #listener: pg.Client | null = null;
  readonly #publisher: Publisher;
  #closed = false;
  #reconnectTimer: NodeJS.Timeout | undefined;
  /** Messages of publishLater lost so far, and those of the failure not reported yet. */
  #lostLater = 0;
  #unreported = 0;

  private constructor(private readonly options: PostgresBusOptions) {
    this.#now = options.now ?? Date.now;
    this.#pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize,
      connectionTimeoutMillis: options.connectTimeoutMs,
      statement_timeout: options.statementTimeoutMs,
      application_name: options.applicationName ?? 'comfy-bridge bus',
    });
    this.#pool.on('error', (error) => options.onConnectionError?.(error));
    this.#publisher = new Publisher({
      url: options.url,
      connectTimeoutMs: options.connectTimeoutMs,
      statementTimeoutMs: options.statementTimeoutMs,
      applicationName: `${options.applicationName ?? 'comfy-bridge bus'} (publish)`,
      channel: CHANNEL,
      inlineLimit: INLINE_LIMIT,
      depth: options.publishDepth,
      onConnectionError: options.onConnectionError,
    });
  }

  /** Creates the tables when missing and starts listening; rejects when the database cannot be reached. */
  static async open(options: PostgresBusOptions): Promise<PostgresBus> {
    const bus = new PostgresBus(options);
    try {
      await requireSynchronousCommit(bus.#pool, 'bus');
      await ensureBusTables(bus.#pool);
      await bus.#listen();
    } catch (error) {
      await bus.close();
      throw error;
    }
    return bus;
  }

  /** Whether the LISTEN connection is up (what /ready reports). */
  get listening(): boolean {
    return this.#listener !== null;
  }

  /**
   * Queued, and sent with whatever else this process publishes in the same turn of the event loop as
   * one statement (one commit): on its own connection, pipelined behind the statements on their way
   * (publisher.ts). Resolves after the commit; a topic's messages are numbered in the order of the calls.
   */
  publish<T>(topic: string, payload: T): Promise<BusMessage<T>> {
    const at = this.#now();
    let text: string;
    try {
      text = JSON.stringify(payload ?? null);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return new Promise<number>((resolve, reject) => this.#publisher.publish({ topic, at, text, resolve, reject })).then((seq) => ({ topic, seq, at, payload }));
  }

  /**
   * publish without a promise (contracts/bus.ts): queued in call order with every other publish of this
   * process, so its seq is fixed relative to theirs now, and sent in the next statement. A failed
   * statement numbered nothing (its transaction rolled back, or the connection it was on was lost): its
   * messages are counted (publishFailures) and reported once per failure, not retried after a later
   * statement with one of their topics (publisher.ts), so no seq is handed out twice or out of order.
   */
  publishLater<T>(topic: string, payload: T): void {
    if (this.#publisher.backlog >= MAX_BACKLOG) {
      this.#failedLater(new Error(`${MAX_BACKLOG} messages wait for the database already`));
      return;
    }
    const at = this.#now();
    let text: string;
    try {
      text = JSON.stringify(payload ?? null);
    } catch (error) {
      this.#failedLater(error);
      return;
    }
    this.#publisher.publish({ topic, at, text, resolve: ignore, reject: (error) => this.#failedLater(error) });
  }

  /** Messages of publishLater that were never published. */
  get publishFailures(): number {
    return this.#lostLater;
  }

  #failedLater(error: unknown): void {
    this.#lostLater++;
    // A statement's messages fail together, in one turn: one report for them all.
    if (this.#unreported++ > 0) return;
    queueMicrotask(() => {
      const messages = this.#unreported;
      this.#unreported = 0;
      this.options.onPublishError?.(error, messages);
    });
  }

  subscribe<T>(topic: string, listener: (message: BusMessage<T>) => void): () => void {
    let subscription = this.#subscriptions.get(topic);
    if (!subscription) {
      subscription = { listeners: new Set(), delivered: null, queue: Promise.resolve() };
      this.#subscriptions.set(topic, subscription);
    }
    const entry = listener as Listener;
    subscription.listeners.add(entry);
    const current = subscription;
    return () => {
      current.listeners.delete(entry);
      if (current.listeners.size === 0 && this.#subscriptions.get(topic) === current) this.#subscriptions.delete(topic);
    };
  }

  async replay<T>(topic: string, since: number): Promise<BusMessage<T>[]> {
    return (await this.#read(topic, since, null)) as BusMessage<T>[];
  }

  async lastSeq(topic: string): Promise<number> {
    const { rows } = await this.#pool.query<{ seq: string }>('SELECT seq FROM bus_topics WHERE topic = $1', [topic]);
    return rows.length === 0 ? 0 : Number(rows[0]!.seq);
  }

  /** Deletes messages outside the replay window (any instance may run it; it is idempotent). */
  async prune(): Promise<number> {
    const { replayWindow, replayWindowMs } = this.options;
    const { rowCount } = await this.#pool.query(
      `DELETE FROM bus_messages m USING bus_topics t
       WHERE m.topic = t.topic AND (m.seq <= t.seq - $1 OR m.at < $2)`,
      [replayWindow, this.#now() - replayWindowMs],
    );
    return rowCount ?? 0;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    const listener = this.#listener;
    this.#listener = null;
    await listener?.end().catch(() => undefined);
    await this.#publisher.close();
    await this.#pool.end().catch(() => undefined);
  }

  /** Messages of a topic with since < seq ≤ until (no bound: to the end), within the replay window, oldest first. */
  async #read(topic: string, since: number, until: number | null): Promise<BusMessage[]> {
    const { replayWindow, replayWindowMs } = this.options;
    const { rows } = await this.#pool.query<{ seq: string; at: string; payload: unknown }>(
      `SELECT m.seq, m.at, m.payload FROM bus_messages m JOIN bus_topics t ON t.topic = m.topic
       WHERE m.topic = $1 AND m.seq > $2 AND ($3::bigint IS NULL OR m.seq <= $3)
         AND m.seq > t.seq - $4 AND m.at >= $5
       ORDER BY m.seq`,
      [topic, since, until, replayWindow, this.#now() - replayWindowMs],
    );
    return rows.map((row) => ({ topic, seq: Number(row.seq), at: Number(row.at), payload: row.payload }));
  }

  async #listen(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.options.url,
      connectionTimeoutMillis: this.options.connectTimeoutMs,
      application_name: `${this.options.applicationName ?? 'comfy-bridge bus'} (listen)`,
    });
    client.on('notification', (notification) => {
      if (notification.channel === CHANNEL && notification.payload) this.#onNotice(notification.payload);
    });
    client.on('error', (error) => {
      this.options.onConnectionError?.(error);
      this.#lost(client);
    });
    client.on('end', () => this.#lost(client));
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    this.#listener = client;
    // Whatever was published while no connection listened is read from the table.
    for (const [topic, subscription] of this.#subscriptions) {
      if (subscription.delivered !== null) this.#enqueue(topic, subscription, () => this.#catchUp(topic, subscription, null));
    }
  }

  #lost(client: pg.Client): void {
    if (this.#listener !== client) return;
    this.#listener = null;
    client.end().catch(() => undefined);
    this.#scheduleReconnect(250);
  }

  #scheduleReconnect(delayMs: number): void {
    if (this.#closed) return;
    this.#reconnectTimer = setTimeout(() => {
      this.#listen().catch((error: unknown) => {
        this.options.onConnectionError?.(error);
        this.#scheduleReconnect(Math.min(delayMs * 2, 5000));
      });
    }, delayMs);
    this.#reconnectTimer.unref();
  }

  #onNotice(text: string): void {
    // Every instance hears every message of the fleet; most are for topics nobody here listens to (a client's
    // frames reach the instance its socket is on). Their topic is read without parsing the whole message.
    const topic = topicOf(text);
    if (topic !== undefined && !this.#subscriptions.has(topic)) return;
    let notice: Notice;
    try {
      notice = JSON.parse(text) as Notice;
    } catch {
      return;
    }
    const subscription = this.#subscriptions.get(notice.t);
    if (!subscription) return;
    this.#enqueue(notice.t, subscription, async () => {
      if (subscription.delivered !== null && notice.s <= subscription.delivered) return;
      const next = subscription.delivered === null || notice.s === subscription.delivered + 1;
      if (next && 'p' in notice) {
        this.#deliver(subscription, { topic: notice.t, seq: notice.s, at: notice.a ?? this.#now(), payload: notice.p });
        return;
      }
      // A gap (or a message too big to be inlined): read what is missing, in order, from the table.
      await this.#catchUp(notice.t, subscription, notice.s);
    });
  }

  async #catchUp(topic: string, subscription: Subscription, until: number | null): Promise<void> {
    const since = subscription.delivered ?? (until === null ? 0 : until - 1);
    for (const message of await this.#read(topic, since, until)) {
      if (subscription.delivered === null || message.seq > subscription.delivered) this.#deliver(subscription, message);
    }
  }

  #enqueue(topic: string, subscription: Subscription, work: () => Promise<void> | void): void {
    subscription.queue = subscription.queue.then(work).catch((error: unknown) => this.options.onListenerError(error, topic));
  }

  #deliver(subscription: Subscription, message: BusMessage): void {
    subscription.delivered = message.seq;
    for (const listener of subscription.listeners) {
      try {
        listener(message);
      } catch (error) {
        this.options.onListenerError(error, message.topic);
      }
    }
  }
}

/** How json_build_object('t', topic, …) (the publishing statement) starts a notice. */
const NOTICE_HEAD = '{"t" : "';

/**
 * The topic of a notice as the publishing statement writes it, without JSON.parse; undefined when the text
 * does not start as that statement writes it or the topic holds an escape (then the caller parses it whole).
 */
export function topicOf(text: string): string | undefined {
  if (!text.startsWith(NOTICE_HEAD)) return undefined;
  const end = text.indexOf('"', NOTICE_HEAD.length);
  if (end < 0) return undefined;
  const topic = text.slice(NOTICE_HEAD.length, end);
  return topic.includes('\\') ? undefined : topic;
}
