import type { Logger } from 'pino';
import type { DeliveryOutcome, OutboxDelivery, OutboxStore } from '../../contracts/outbox.js';
import type { WebhookStats } from './api.js';
import { retryDelayMs } from './backoff.js';
import type { Attempt } from './sender.js';
import type { WebhooksOptions } from './options.js';

export interface DispatcherDeps {
  outbox: OutboxStore;
  /** Who claims (unique per process: another instance sharing the store must not pass for it). */
  claimer: string;
  /** Makes one attempt of a delivery (signing and sending). */
  send(delivery: OutboxDelivery): Promise<Attempt>;
  options: Pick<WebhooksOptions, 'firstRetryMs' | 'maxRetryMs' | 'giveUpAfterMs' | 'pollMs' | 'claimMs' | 'concurrency' | 'keepMs'>;
  log: Logger;
  now?: () => number;
}

/** Old finished deliveries are deleted at most this often. */
const PRUNE_EVERY_MS = 60 * 60 * 1000;

/**
 * Sends what the outbox holds: claims due deliveries (each held by one instance at a time), makes
 * one attempt of each, and records the outcome — delivered, another attempt after an exponential
 * delay with jitter, or given up once the delivery is older than giveUpAfterMs. Nothing is kept in
 * memory between rounds but counters: a restart (or another instance, once the claim runs out)
 * picks up exactly where the store says.
 */
export class Dispatcher {
  readonly #stats: WebhookStats = { delivered: 0, retried: 0, failed: 0 };
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  #again = false;
  #stopped = true;
  #lastPrune = 0;
  readonly #now: () => number;

  constructor(private readonly deps: DispatcherDeps) {
    this.#now = deps.now ?? Date.now;
  }

  stats(): WebhookStats {
    return { ...this.#stats };
  }

  start(): void {
    this.#stopped = false;
    this.wake();
  }

  /** Runs a round now (or right after the one running): a generation just ended. */
  wake(): void {
    if (this.#stopped) return;
    if (this.#round) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#round = this.#run().finally(() => {
      this.#round = undefined;
      if (this.#stopped) return;
      if (this.#again) {
        this.#again = false;
        this.wake();
      } else {
        this.#timer = setTimeout(() => this.wake(), this.deps.options.pollMs);
        this.#timer.unref();
      }
    });
  }

  /** Stops claiming; waits for the attempts under way (each bounded by the attempt timeout). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#round;
  }

  async #run(): Promise<void> {
    const { outbox, claimer, options, log } = this.deps;
    try {
      // Claim a batch, send it, and go on while batches come back full.
      for (;;) {
        if (this.#stopped) return;
        const batch = await outbox.claimDue(claimer, new Date(this.#now()).toISOString(), options.concurrency, options.claimMs);
        await Promise.all(batch.map((delivery) => this.#deliver(delivery)));
        if (batch.length < options.concurrency) break;
      }
      await this.#pruneNowAndThen();
    } catch (error) {
      log.error({ err: error }, 'webhook outbox round failed');
    }
  }

  async #deliver(delivery: OutboxDelivery): Promise<void> {
    const { outbox, claimer, log, options } = this.deps;
    const result = await this.deps.send(delivery);
    const now = this.#now();
    const at = new Date(now).toISOString();
    let outcome: DeliveryOutcome;
    if (result.ok) {
      outcome = { state: 'delivered', at };
    } else {
      const next = now + retryDelayMs(delivery.attempts + 1, options.firstRetryMs, options.maxRetryMs);
      const deadline = Date.parse(delivery.createdAt) + options.giveUpAfterMs;
      if (result.final) outcome = { state: 'failed', at, error: result.error };
      else if (next > deadline) outcome = { state: 'failed', at, error: `gave up after ${delivery.attempts + 1} attempts: ${result.error}` };
      else outcome = { state: 'pending', nextAttemptAt: new Date(next).toISOString(), error: result.error };
    }
    const held = await outbox.finish(delivery.id, claimer, outcome);
    const fields = { delivery: delivery.id, genId: delivery.generationId, event: delivery.event, attempt: delivery.attempts + 1 };
    if (!held) {
      // The claim ran out while sending and another instance took it: it counts that one.
      log.warn(fields, 'webhook claim ran out during the attempt; the delivery is another instance\'s now');
      return;
    }
    if (outcome.state === 'delivered') {
      this.#stats.delivered++;
      log.info(fields, 'webhook delivered');
    } else if (outcome.state === 'pending') {
      this.#stats.retried++;
      log.info({ ...fields, error: outcome.error, next: outcome.nextAttemptAt }, 'webhook attempt failed; trying again later');
    } else {
      this.#stats.failed++;
      log.warn({ ...fields, error: outcome.error }, 'webhook delivery given up');
    }
  }

  async #pruneNowAndThen(): Promise<void> {
    const now = this.#now();
    if (now - this.#lastPrune < PRUNE_EVERY_MS) return;
    this.#lastPrune = now;
    await this.deps.outbox.prune(new Date(now - this.deps.options.keepMs).toISOString());
  }
}
