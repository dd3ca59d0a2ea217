import pg from 'pg';
import type { Bus, BusMessage } from '../../contracts/bus.js';
import { ensureBusTables } from './tables.js';

/** One NOTIFY channel for every topic: each instance holds one LISTEN connection and filters in-process. */
export const CHANNEL = 'comfy_bridge_bus';
/** NOTIFY payloads are capped at 8000 bytes: a bigger message is announced by topic and seq only. */
const INLINE_LIMIT = 7000;

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
  now?: () => number;
  /** Publishing statements in flight at once (default PUBLISH_LANES; bench/fleet.ts compares others). */
  publishLanes?: number;
}

type Listener = (message: BusMessage) => void;

/** A publish waiting for its batch. */
interface Outgoing {
  topic: string;
  at: number;
  text: string;
  resolve: (seq: number) => void;
  reject: (error: Error) => void;
}

/** Messages sent in one statement at most. */
const MAX_BATCH = 200;
/**
 * Publishing statements on their way at once, per instance: one. PostgreSQL serialises the commits of
 * NOTIFYing transactions (a lock held through each one's WAL flush, so notices leave in commit order):
 * two statements of one instance in flight never commit together, the second only queues in the server
 * behind the first's flush. With one, what comes meanwhile waits in the process and goes as one batch,
 * one commit, one flush. Measured (`BENCH_FLEET_ONLY=bus npx tsx bench/fleet.ts`: 3 buses, 20 topics):
 * 4 at once gave 2–4× the publish → NOTIFY time of 1 at the same offered rate.
 */
export const PUBLISH_LANES = 1;
/** Deadlock and serialization failure: the statement was rolled back whole. */
const RETRYABLE = new Set(['40P01', '40001']);

/**
 * Publishes a batch ($1 topics, $2 times, $3 payloads, in queue order). Each topic's row is bumped
 * once by the batch's count of its messages and stays locked to the commit, so concurrent publishers
 * of a topic (other batches, other instances) are serialised and commit in seq order; topics are
 * locked in one order (sorted, byte-wise) so two batches never wait on each other crosswise. The
 * messages are numbered from the bumped seq in queue order, kept in bus_messages, and NOTIFYd in
 * that order (volatile pg_notify is evaluated after the sort), each with its message when it fits.
 */
const PUBLISH_BATCH = `
  WITH input AS (
    SELECT u.i, u.topic COLLATE "C" AS topic, u.at, u.payload::json AS payload
    FROM unnest($1::text[], $2::bigint[], $3::text[]) WITH ORDINALITY AS u(topic, at, payload, i)
  ), counts AS (
    SELECT topic, count(*) AS n FROM input GROUP BY topic
  ), bumped AS (
    INSERT INTO bus_topics AS b (topic, seq) SELECT topic, n FROM counts ORDER BY topic
    ON CONFLICT (topic) DO UPDATE SET seq = b.seq + EXCLUDED.seq
    RETURNING b.topic, b.seq
  ), numbered AS (
    SELECT input.i, input.topic, input.at, input.payload,
      bumped.seq - counts.n + row_number() OVER (PARTITION BY input.topic ORDER BY input.i) AS seq
    FROM input JOIN counts USING (topic) JOIN bumped USING (topic)
  ), kept AS (
    INSERT INTO bus_messages (topic, seq, at, payload) SELECT topic, seq, at, payload FROM numbered
  )
  SELECT seq, pg_notify($4, CASE WHEN octet_length(full_text) <= $5 THEN full_text
                                 ELSE json_build_object('t', topic, 's', seq)::text END)
  FROM (SELECT i, topic, seq, json_build_object('t', topic, 's', seq, 'a', at, 'p', payload)::text AS full_text FROM numbered) AS notices
  ORDER BY i`;

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
  /** Publishes not sent yet, and how many batches are on their way. */
  readonly #outgoing: Outgoing[] = [];
  #sending = 0;
  #closed = false;
  #reconnectTimer: NodeJS.Timeout | undefined;

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
  }

  /** Creates the tables when missing and starts listening; rejects when the database cannot be reached. */
  static async open(options: PostgresBusOptions): Promise<PostgresBus> {
    const bus = new PostgresBus(options);
    try {
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
   * Queued, and sent with every other publish waiting at that moment as one statement (one commit,
   * one WAL flush): while a publishing statement is on its way, the next publishes wait together
   * instead of one after another (PUBLISH_LANES). With none on its way it is sent at once (no timer).
   */
  publish<T>(topic: string, payload: T): Promise<BusMessage<T>> {
    const at = this.#now();
    let text: string;
    try {
      text = JSON.stringify(payload ?? null);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return new Promise<number>((resolve, reject) => {
      this.#outgoing.push({ topic, at, text, resolve, reject });
      this.#pump();
    }).then((seq) => ({ topic, seq, at, payload }));
  }

  /** Sends the queued publishes in batches, at most PUBLISH_LANES batches at a time. */
  #pump(): void {
    while (this.#sending < (this.options.publishLanes ?? PUBLISH_LANES) && this.#outgoing.length > 0) {
      const batch = this.#outgoing.splice(0, MAX_BATCH);
      this.#sending++;
      this.#send(batch)
        .then(
          (seqs) => batch.forEach((entry, i) => entry.resolve(seqs[i]!)),
          (error: unknown) => batch.forEach((entry) => entry.reject(error as Error)),
        )
        .finally(() => {
          this.#sending--;
          this.#pump();
        });
    }
  }

  /** One statement for a batch: seqs are handed out per topic in queue order; a deadlock between two batches is retried. */
  async #send(batch: Outgoing[]): Promise<number[]> {
    const values = [batch.map((e) => e.topic), batch.map((e) => e.at), batch.map((e) => e.text), CHANNEL, INLINE_LIMIT];
    for (let attempt = 1; ; attempt++) {
      try {
        // Named: prepared once per connection, not parsed and planned for every batch.
        const { rows } = await this.#pool.query<{ seq: string }>({ name: 'bus_publish', text: PUBLISH_BATCH, values });
        return rows.map((row) => Number(row.seq));
      } catch (error) {
        // Nothing of a failed statement is kept (it is its own transaction): sending it again is safe.
        if (attempt >= 3 || !RETRYABLE.has((error as { code?: string }).code ?? '')) throw error;
      }
    }
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
