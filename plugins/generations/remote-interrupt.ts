import type { Logger } from 'pino';
import type { Bus, BusMessage } from '../../contracts/bus.js';
import { FINAL_STATES, type Generation } from '../../contracts/generation.js';
import type { GenerationStore } from '../../contracts/storage.js';
import { backendUnavailable, retryAfter } from '../../contracts/transport.js';
import { BridgeError, isBridgeError, notFound } from '../../core/errors.js';

/** The one bus topic of interrupt requests and their answers between the instances of a fleet (low volume). */
export const CONTROL_TOPIC = 'generations:control';

/** How long an asker waits for the following instance's answer before it looks again (claim, store). */
const ANSWER_WAIT_MS = 1500;
/** Beyond the lease: a survivor's claim pass (every ≤ 1 s) and its first answer. */
const TAKEOVER_GRACE_MS = 10_000;

interface WireError {
  status: number;
  code: string;
  detail: string;
  headers: Record<string, string>;
}

type ControlMessage =
  | { type: 'interrupt'; id: string; from: string }
  | { type: 'interrupt-answer'; id: string; to: string; by: string; gen?: Generation; error?: WireError };

export interface RemoteInterruptDeps {
  bus: Bus;
  generations: GenerationStore;
  /** This instance's id (the lease owner name). */
  instance: string;
  /** How long a lease lasts unrenewed: after that an instance that died has handed its generations on. */
  leaseTtlMs: number;
  /** Interrupts a generation this instance follows; undefined when it does not follow it. */
  local(id: string): Promise<Generation | undefined>;
  /** One claim pass over expired leases (the claimed generations are followed here from then on). */
  claim(): Promise<void>;
  log: Logger;
}

type Answer = { gen?: Generation; error?: WireError };

/**
 * Interrupt from any instance of a fleet (shared store + a bus across instances). Only the instance that
 * follows a generation may cancel it: its transport run must know the prompt was removed on purpose, or a
 * prompt deleted from a ComfyUI queue would look `lost` and be submitted again. So the instance asked to
 * interrupt a generation it does not follow publishes a request on CONTROL_TOPIC; the follower cancels it
 * and answers. No answer means nobody follows it right now (the follower died): the asker takes part in
 * claiming expired leases, and once the generation is followed (here, or by the survivor that claimed it,
 * which answers the next request) the interrupt goes through. It stops asking when the generation ended,
 * or after a lease plus a claim pass with 503.
 */
export class RemoteInterrupts {
  readonly #waiting = new Map<string, Set<(answer: Answer) => void>>();
  #unsubscribe: (() => void) | undefined;

  constructor(private readonly deps: RemoteInterruptDeps) {}

  /** Starts answering requests for the generations this instance follows. */
  start(): void {
    this.#unsubscribe = this.deps.bus.subscribe<ControlMessage>(CONTROL_TOPIC, (message) => this.#onMessage(message));
  }

  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  /** Interrupts a generation another instance follows (or followed, until it died); resolves once its follower has the request. */
  async interrupt(id: string): Promise<Generation> {
    const deadline = Date.now() + this.deps.leaseTtlMs + TAKEOVER_GRACE_MS;
    for (;;) {
      const answer = await this.#ask(id);
      if (answer?.error) throw new BridgeError(answer.error.status, answer.error.code, answer.error.detail, { headers: answer.error.headers });
      if (answer?.gen) return answer.gen;
      const stored = await this.deps.generations.get(id);
      if (!stored) throw notFound(`no generation ${id}`);
      if (FINAL_STATES.has(stored.state)) return stored;
      // Nobody answered: its follower may have died. Claim what ran out; if it is ours now, cancel it here.
      await this.deps.claim();
      const here = await this.deps.local(id);
      if (here) return here;
      if (Date.now() > deadline) {
        throw backendUnavailable(`the bridge instance following generation ${id} does not answer; try again shortly`, { headers: retryAfter() });
      }
    }
  }

  /** Publishes a request and waits for any answer about this generation (a late answer to an earlier request counts). */
  async #ask(id: string): Promise<Answer | undefined> {
    let resolve!: (answer: Answer | undefined) => void;
    const answered = new Promise<Answer | undefined>((r) => (resolve = r));
    const waiting = this.#waiting.get(id) ?? new Set();
    this.#waiting.set(id, waiting);
    waiting.add(resolve);
    const timer = setTimeout(() => resolve(undefined), ANSWER_WAIT_MS);
    try {
      await this.deps.bus.publish<ControlMessage>(CONTROL_TOPIC, { type: 'interrupt', id, from: this.deps.instance });
      return await answered;
    } finally {
      clearTimeout(timer);
      waiting.delete(resolve);
      if (waiting.size === 0 && this.#waiting.get(id) === waiting) this.#waiting.delete(id);
    }
  }

  #onMessage({ payload }: BusMessage<ControlMessage>): void {
    if (payload.type === 'interrupt-answer') {
      if (payload.to !== this.deps.instance) return;
      for (const resolve of this.#waiting.get(payload.id) ?? []) resolve(payload);
      return;
    }
    if (payload.type === 'interrupt') void this.#answer(payload.id, payload.from);
  }

  /** Cancels it when this instance follows it; silent otherwise (another instance, or nobody, follows it). */
  async #answer(id: string, to: string): Promise<void> {
    let answer: Answer;
    try {
      const gen = await this.deps.local(id);
      if (!gen) return;
      answer = { gen };
    } catch (error) {
      const bridgeError = isBridgeError(error) ? error : backendUnavailable('the interrupt failed');
      answer = { error: { status: bridgeError.status, code: bridgeError.code, detail: bridgeError.detail, headers: bridgeError.headers } };
    }
    try {
      await this.deps.bus.publish<ControlMessage>(CONTROL_TOPIC, { type: 'interrupt-answer', id, to, by: this.deps.instance, ...answer });
    } catch (error) {
      this.deps.log.warn({ err: error, generation: id }, 'could not answer an interrupt request from another instance');
    }
    if (answer.gen) this.deps.log.info({ generation: id, asker: to }, 'interrupted a generation on request of another instance');
  }
}
