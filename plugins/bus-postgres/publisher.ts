import pg from 'pg';

/** A publish waiting for its statement. */
export interface Outgoing {
  topic: string;
  at: number;
  text: string;
  resolve: (seq: number) => void;
  reject: (error: Error) => void;
}

export interface PublisherOptions {
  url: string;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  applicationName: string;
  /** The notification channel and the size above which a notice carries only topic and seq. */
  channel: string;
  inlineLimit: number;
  /** Statements on the wire at once (default PUBLISH_DEPTH). */
  depth?: number;
  onConnectionError?: (error: unknown) => void;
}

/** Messages sent in one statement at most. */
const MAX_BATCH = 200;
/**
 * Publishing statements on the wire at once, per instance: two. They are pipelined on one connection,
 * so the server runs them one after another in the order sent, and a topic's messages keep their
 * publish order across statements. With two, the next statement waits in the server and starts the
 * moment the previous one committed, instead of waiting for this process to read that answer first (a
 * busy bridge read it 10–15 ms late: bench/fleet.ts, latency part). Beyond two, publishes wait in the
 * process and go together as one statement: PostgreSQL commits NOTIFYing transactions one at a time,
 * each through its own WAL flush and a wake-up of every listening session, so more statements of a
 * few messages each cost more than they save (depth 4 and 8 measured no better than 2, 1 worse).
 */
export const PUBLISH_DEPTH = 2;
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

/**
 * The publishing side of the PostgreSQL bus: one connection of its own in pipeline mode. Publishes
 * made in one turn of the event loop go as one statement; each statement is its own transaction
 * (synchronous commit: a seq a client saw is never handed out again after a crash), answered after
 * its commit. Statements go on the wire at once, up to PUBLISH_DEPTH, and the server runs them in the
 * order sent, so messages are numbered per topic in the order of the publish calls.
 */
export class Publisher {
  readonly #outgoing: Outgoing[] = [];
  /** Statements on the wire, oldest first (a failed one is retried only if no later one shares a topic). */
  readonly #inFlight: Outgoing[][] = [];
  #client: Promise<pg.Client> | null = null;
  #scheduled = false;
  #closed = false;

  constructor(private readonly options: PublisherOptions) {}

  /** Messages waiting for a statement (not yet sent). */
  get backlog(): number {
    return this.#outgoing.length;
  }

  /** Queued; sent at the end of this turn of the event loop with whatever else was published in it. */
  publish(entry: Outgoing): void {
    if (this.#closed) {
      entry.reject(new Error('the bus is closed'));
      return;
    }
    this.#outgoing.push(entry);
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#pump();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const entry of this.#outgoing.splice(0)) entry.reject(new Error('the bus is closed'));
    const client = await this.#client?.catch(() => null);
    this.#client = null;
    // Pipelined statements already sent are answered before the connection ends.
    await client?.end().catch(() => undefined);
  }

  #pump(): void {
    while (this.#inFlight.length < (this.options.depth ?? PUBLISH_DEPTH) && this.#outgoing.length > 0) {
      const batch = this.#outgoing.splice(0, MAX_BATCH);
      this.#inFlight.push(batch);
      this.#send(batch)
        .then(
          (seqs) => batch.forEach((entry, i) => entry.resolve(seqs[i]!)),
          (error: unknown) => batch.forEach((entry) => entry.reject(error as Error)),
        )
        .finally(() => {
          this.#inFlight.splice(this.#inFlight.indexOf(batch), 1);
          this.#pump();
        });
    }
  }

  /** One statement for a batch; a deadlock is retried when no statement sent after it has one of its topics (their order would change). */
  async #send(batch: Outgoing[]): Promise<number[]> {
    const { channel, inlineLimit } = this.options;
    const values = [batch.map((e) => e.topic), batch.map((e) => e.at), batch.map((e) => e.text), channel, inlineLimit];
    // Sent in call order: every batch awaits the same connection promise, whose continuations run in order.
    const client = await this.#connection();
    for (let attempt = 1; ; attempt++) {
      try {
        // Named: prepared once per connection, not parsed and planned for every batch.
        const { rows } = await client.query<{ seq: string }>({ name: 'bus_publish', text: PUBLISH_BATCH, values });
        return rows.map((row) => Number(row.seq));
      } catch (error) {
        // Nothing of a failed statement is kept (it is its own transaction): sending it again is safe. It is
        // sent again from here, in the turn that learnt of the failure, before #pump can send a later batch
        // (a deadlock leaves the connection up), so no statement sent after the check overtakes it.
        if (attempt >= 3 || !RETRYABLE.has((error as { code?: string }).code ?? '') || this.#overtaken(batch)) throw error;
      }
    }
  }

  /** Whether a statement sent after `batch` publishes on one of its topics. */
  #overtaken(batch: Outgoing[]): boolean {
    const topics = new Set(batch.map((e) => e.topic));
    return this.#inFlight.slice(this.#inFlight.indexOf(batch) + 1).some((later) => later.some((e) => topics.has(e.topic)));
  }

  /** The publishing connection, opened on first use and again after it was lost. */
  #connection(): Promise<pg.Client> {
    if (this.#closed) return Promise.reject(new Error('the bus is closed'));
    if (this.#client) return this.#client;
    const { url, connectTimeoutMs, statementTimeoutMs, applicationName } = this.options;
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: connectTimeoutMs, statement_timeout: statementTimeoutMs, application_name: applicationName, pipeline: true });
    const opening: Promise<pg.Client> = client.connect().then(() => client);
    const lost = (error?: unknown) => {
      if (error !== undefined) this.options.onConnectionError?.(error);
      // The statements on it are answered with the error by pg; the next batch opens a new connection.
      if (this.#client === opening) this.#client = null;
      client.end().catch(() => undefined);
    };
    client.on('error', lost);
    client.on('end', () => lost());
    opening.catch(() => lost());
    this.#client = opening;
    return opening;
  }
}
