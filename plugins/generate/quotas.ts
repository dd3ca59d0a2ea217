import type { Principal } from '../../contracts/auth.js';
import type { HistoryQuery, Storage } from '../../contracts/storage.js';
import { retryAfter } from '../../contracts/transport.js';
import { BridgeError, isBridgeError } from '../../core/errors.js';
import type { QuotaLimit, QuotaLimits, QuotaOptions } from './quota-options.js';

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * 60_000;

/** Whose quota a request counts against: its API key, or its clientId with auth off. */
interface Subject {
  /** "key:<id>" or "client:<clientId>": the in-process reservations' key. */
  name: string;
  /** How the detail names it. */
  label: string;
  filter: Pick<HistoryQuery, 'owner' | 'clientId'>;
  limits: QuotaLimits;
}

export const QUOTA_EXCEEDED = 'quota_exceeded';

/**
 * Per-key quotas (max active, per minute, per day), counted from the store's generation history:
 * what a store holds is what every instance sharing it recorded, so the quotas are the fleet's. The
 * windows slide: the n-th newest generation of the key tells whether n were started within it (one
 * indexed read per limit, never a scan). Checking only reads, so a refused request changes nothing.
 * Requests of this process still being created hold a reservation, so two of them never both take
 * the last unit; requests racing on other instances at that moment may pass it (as the 429 caps).
 * Retention that deletes generations younger than a day lowers the daily count.
 */
export class KeyQuotas {
  readonly #pending = new Map<string, number>();

  constructor(
    private readonly options: QuotaOptions,
    private readonly storage: () => Storage | undefined,
    private readonly retryAfterSeconds: number,
    /** Told of each refusal, with the limit it hit (for /metrics). */
    private readonly onRefused: (limit: QuotaLimit) => void = () => undefined,
  ) {}

  /** Whether any limit is configured (else reserve() is a no-op). */
  get enabled(): boolean {
    return [this.options.default, ...Object.values(this.options.keys)].some((limits) => Object.keys(limits).length > 0);
  }

  /** A release function once every limit has room; throws 429 `quota_exceeded` naming the first limit hit. */
  async reserve(principal: Principal, clientId: string): Promise<() => void> {
    const subject = this.#subject(principal, clientId);
    const storage = this.storage();
    if (Object.keys(subject.limits).length === 0 || !storage) return () => undefined;
    const pending = this.#pending.get(subject.name) ?? 0;
    this.#pending.set(subject.name, pending + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = (this.#pending.get(subject.name) ?? 1) - 1;
      if (left > 0) this.#pending.set(subject.name, left);
      else this.#pending.delete(subject.name);
    };
    try {
      await this.#check(storage, subject, pending);
    } catch (error) {
      release();
      if (isBridgeError(error) && error.code === QUOTA_EXCEEDED) this.onRefused(error.extra.limit as QuotaLimit);
      throw error;
    }
    return release;
  }

  async #check(storage: Storage, subject: Subject, pending: number): Promise<void> {
    const { maxActive, perMinute, perDay } = subject.limits;
    if (maxActive !== undefined) {
      if ((await this.#active(storage, subject)) + pending >= maxActive) {
        throw exceeded(subject, 'maxActive', `${maxActive} generations queued or running at once`, this.retryAfterSeconds);
      }
    }
    if (perMinute !== undefined) await this.#window(storage, subject, pending, 'perMinute', perMinute, MINUTE_MS, `${perMinute} generations per minute`);
    if (perDay !== undefined) await this.#window(storage, subject, pending, 'perDay', perDay, DAY_MS, `${perDay} generations per 24 hours`);
  }

  /**
   * Queued + running generations of the subject. A clientId's come from the store's activeCounts when it
   * has one (one statement on storage-postgres, its tallies) instead of two one-row history pages.
   */
  async #active(storage: Storage, subject: Subject): Promise<number> {
    const { clientId, owner } = subject.filter;
    if (clientId !== undefined && owner === undefined && storage.generations.activeCounts) return (await storage.generations.activeCounts(clientId)).client;
    const [queued, running] = await Promise.all((['queued', 'running'] as const).map((state) => storage.generations.page({ ...subject.filter, state, limit: 1, offset: 0 })));
    return queued!.total + running!.total;
  }

  /** Refuses when the subject started `limit` generations (recorded + being created here) within the last `windowMs`. */
  async #window(storage: Storage, subject: Subject, pending: number, limit: Extract<QuotaLimit, 'perMinute' | 'perDay'>, max: number, windowMs: number, what: string): Promise<void> {
    if (pending >= max) throw exceeded(subject, limit, what, 1);
    const { items } = await storage.generations.page({ ...subject.filter, limit: 1, offset: max - 1 - pending });
    const nth = items[0];
    if (!nth) return;
    const frees = Date.parse(nth.createdAt) + windowMs - Date.now();
    if (frees > 0) throw exceeded(subject, limit, what, Math.ceil(frees / 1000));
  }

  #subject(principal: Principal, clientId: string): Subject {
    if (principal.anonymous) {
      return { name: `client:${clientId}`, label: `client ${clientId}`, filter: { clientId }, limits: this.options.default };
    }
    return { name: `key:${principal.id}`, label: `API key ${principal.id}`, filter: { owner: principal.id }, limits: this.options.keys[principal.id] ?? this.options.default };
  }
}

function exceeded(subject: Subject, limit: QuotaLimit, what: string, seconds: number): BridgeError {
  return new BridgeError(429, QUOTA_EXCEEDED, `${subject.label} reached its quota ${limit} (${what}); try again in ${seconds} s`, {
    headers: retryAfter(Math.max(1, seconds)),
    extra: { limit },
  });
}
