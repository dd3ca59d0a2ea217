import { createHash, randomBytes } from 'node:crypto';
import { badRequest, BridgeError, conflict } from '../core/errors.js';
import type { Principal } from './auth.js';
import type { IdempotencyRecord, IdempotencyStore } from './storage.js';

/**
 * Idempotency-Key handling shared by the routes that create things (generate, upload), so a client
 * may retry a request cut by a crash or a network blip without making the thing twice:
 * - the same key with the same request within the window answers the first answer (same id);
 * - the same key with another request is refused (422);
 * - a duplicate that arrives while the first still runs waits for it in this process, and gets 409
 *   (retry shortly) from another bridge process sharing the store;
 * - a failed request forgets its key, so it may be tried again.
 * The record is claimed in storage before the work starts and names what the work makes (`ref`), so
 * a retry after a crash finds what the cut request made instead of making it again.
 */

export const IDEMPOTENCY_HEADER = 'idempotency-key';
/** How long a key is remembered. */
export const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;
/** A claim with no answer older than this, whose work left nothing behind, was cut by a crash: a retry takes it over. */
export const IDEMPOTENCY_STALE_MS = 60 * 1000;
/** Printable ASCII, as Stripe and the IETF draft allow. */
const KEY_SHAPE = /^[\x21-\x7e]{1,255}$/;

export interface IdempotentAnswer {
  status: number;
  body: unknown;
}

/** The Idempotency-Key header, or undefined without one; 400 for a malformed one (checked before anything else). */
export function idempotencyKeyOf(headers: Record<string, string | string[] | undefined>): string | undefined {
  const value = headers[IDEMPOTENCY_HEADER];
  if (value === undefined) return undefined;
  if (Array.isArray(value) || !KEY_SHAPE.test(value)) {
    throw badRequest('Idempotency-Key must be sent once, as 1–255 printable ASCII characters (a UUID is a good choice)');
  }
  return value;
}

/** Whose keys these are: one API key's, or (auth off) one clientId's. Keys of different scopes never meet. */
export const idempotencyScope = (principal: Principal, clientId: string): string =>
  principal.anonymous ? `client:${clientId}` : `key:${principal.id}`;

/** JSON with object keys sorted, so the same request hashes the same whatever order its keys came in. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Hex SHA-256 of what a request asks for. */
export const requestFingerprint = (request: unknown): string => createHash('sha256').update(canonical(request)).digest('hex');

export interface IdempotentRequest {
  scope: string;
  key: string;
  fingerprint: string;
  /** Names what the work will make, before it starts (default: a random token). */
  mintRef?: () => string;
  /** Does the work once; `ref` is the claimed record's (a take-over reuses the cut request's). */
  work: (ref: string) => Promise<IdempotentAnswer>;
  /** The answer for what a cut request (no stored answer) made under `ref`, if it made anything. */
  recover?: (ref: string) => Promise<IdempotentAnswer | undefined>;
}

export interface IdempotentResult extends IdempotentAnswer {
  /** True when this is the answer of an earlier request with the same key. */
  replayed: boolean;
}

export class IdempotentRequests {
  /** Requests running in this process, by scope and key: a duplicate waits for the first. */
  readonly #running = new Map<string, Promise<unknown>>();
  #lastPrune = 0;

  constructor(
    private readonly store: () => IdempotencyStore,
    private readonly now: () => number = Date.now,
  ) {}

  async run(request: IdempotentRequest): Promise<IdempotentResult> {
    const id = JSON.stringify([request.scope, request.key]);
    // Check and mark in one synchronous step, so of many duplicates at once exactly one goes on.
    for (let first = this.#running.get(id); first; first = this.#running.get(id)) await first.catch(() => undefined);
    const done = this.#attempt(request);
    this.#running.set(id, done);
    try {
      return await done;
    } finally {
      if (this.#running.get(id) === done) this.#running.delete(id);
    }
  }

  async #attempt(request: IdempotentRequest): Promise<IdempotentResult> {
    const store = this.store();
    const now = this.now();
    this.#pruneNowAndThen(store, now);
    const mine: IdempotencyRecord = {
      scope: request.scope,
      key: request.key,
      fingerprint: request.fingerprint,
      ref: request.mintRef?.() ?? randomBytes(12).toString('base64url'),
      createdAt: new Date(now).toISOString(),
      answer: null,
    };
    const held = await store.claim(mine, new Date(now - IDEMPOTENCY_WINDOW_MS).toISOString());
    if (held.fingerprint !== request.fingerprint) {
      throw new BridgeError(422, 'idempotency_key_reused', `Idempotency-Key "${request.key}" was already used with another request; use a new key for a new request`);
    }
    if (held.ref !== mine.ref) {
      if (held.answer) return { ...held.answer, replayed: true };
      const recovered = await request.recover?.(held.ref);
      if (recovered) {
        await store.complete(held.scope, held.key, held.ref, recovered);
        return { ...recovered, replayed: true };
      }
      if (now - Date.parse(held.createdAt) < IDEMPOTENCY_STALE_MS) {
        throw conflict(`a request with Idempotency-Key "${request.key}" is still running; retry shortly for its answer`, { headers: { 'Retry-After': '1' } });
      }
      // Cut by a crash before it made anything: this request does the work, under the same ref.
    }
    let answer: IdempotentAnswer;
    try {
      answer = await request.work(held.ref);
    } catch (error) {
      await store.release(held.scope, held.key, held.ref).catch(() => undefined);
      throw error;
    }
    await store.complete(held.scope, held.key, held.ref, answer);
    return { ...answer, replayed: false };
  }

  /** Forgets expired keys at most once an hour, in the background of a request. */
  #pruneNowAndThen(store: IdempotencyStore, now: number): void {
    if (now - this.#lastPrune < 60 * 60 * 1000) return;
    this.#lastPrune = now;
    void store.prune(new Date(now - IDEMPOTENCY_WINDOW_MS).toISOString()).catch(() => undefined);
  }
}
