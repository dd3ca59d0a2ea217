import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { TERMINAL_EVENTS, type PromptRun, type TerminalEvent, type Transport } from '../../contracts/transport.js';
import type { Workflow, WorkflowRegistry } from '../../plugins/workflows/api.js';
import type { WarmupService, WarmupStatus } from '../../plugins/warmup/api.js';
import type { WarmupOptions } from './options.js';
import { warmupGraph } from './warmup-graph.js';

export interface WarmerDeps {
  transport: Transport;
  workflows: WorkflowRegistry;
  log: Logger;
  options: WarmupOptions;
  contentTypeFor: (name: string) => string;
}

/** One workflow on one backend. */
interface Slot {
  backend: string;
  workflow: string;
  /** Waiting its turn in the backend's chain (a second connect meanwhile adds nothing). */
  queued: boolean;
  running: boolean;
  last: 'done' | 'failed' | null;
  seconds: number | null;
}

type Outcome = TerminalEvent | { type: 'timeout' } | { type: 'closing' };

/**
 * Runs each marked workflow once on a backend that can run it whenever that backend connects or
 * comes back, straight through the transport: no generation is recorded, so a warm-up is in no
 * history, count or client frame. One warm-up at a time per backend (the next waits for the end of
 * the last, so each one's timeout measures its own run); a failure is logged at warn and changes
 * nothing for clients, whose generations are routed as usual meanwhile.
 */
export class Warmer implements WarmupService {
  readonly #slots = new Map<string, Slot>();
  readonly #chains = new Map<string, Promise<void>>();
  /** Ends every wait at once when the bridge closes. */
  readonly #waiting = new Set<() => void>();
  /** Backends the transport said were up at least once (their capabilities read, their warm-ups queued). */
  readonly #seen = new Set<string>();
  #closed = false;

  constructor(private readonly deps: WarmerDeps) {}

  /** The workflows to warm up: marked in their manifest or named in the options. */
  marked(): Workflow[] {
    const named = new Set(this.deps.options.workflows);
    return this.deps.workflows.list().filter((workflow) => workflow.warmup !== undefined || named.has(workflow.alias));
  }

  /** A backend connected or came back (its capabilities read): queue each marked workflow it can run. */
  backendUp(backend: string): void {
    if (this.#closed) return;
    this.#seen.add(backend);
    for (const workflow of this.marked()) {
      const fit = this.deps.transport.fit?.({ graph: workflow.graph, workflow: workflow.alias }).find((f) => f.backend === backend);
      // Unknown capabilities (its /object_info could not be read): not warmed rather than refused by ComfyUI.
      if (!fit?.up || !fit.known || fit.missing.length > 0) continue;
      this.#enqueue(backend, workflow.alias);
    }
  }

  #enqueue(backend: string, workflow: string): void {
    const key = `${backend}\u0000${workflow}`;
    let slot = this.#slots.get(key);
    if (!slot) {
      slot = { backend, workflow, queued: false, running: false, last: null, seconds: null };
      this.#slots.set(key, slot);
    }
    if (slot.queued) return;
    slot.queued = true;
    const turn = (this.#chains.get(backend) ?? Promise.resolve()).then(() => this.#run(slot));
    this.#chains.set(backend, turn);
  }

  async #run(slot: Slot): Promise<void> {
    slot.queued = false;
    const { transport, log } = this.deps;
    const workflow = this.deps.workflows.get(slot.workflow);
    const up = transport.backends().some((b) => b.name === slot.backend && b.up);
    // Removed by a reload, or the backend went away meanwhile (its next connect queues it again).
    if (this.#closed || !workflow || !up) return;
    slot.running = true;
    const startedAt = performance.now();
    const where = { backend: slot.backend, workflow: slot.workflow };
    try {
      const graph = await warmupGraph(transport, workflow, slot.backend, this.deps.contentTypeFor);
      const outcome = await this.#submit(slot.backend, graph);
      const seconds = (performance.now() - startedAt) / 1000;
      if (outcome.type === 'completed') {
        slot.last = 'done';
        slot.seconds = seconds;
        log.info({ ...where, seconds }, 'warm-up done');
      } else if (outcome.type !== 'closing') {
        slot.last = 'failed';
        log.warn({ ...where, seconds, end: outcome.type, reason: reasonOf(outcome, this.deps.options.timeoutMs) }, 'warm-up failed; clients are served as usual');
      }
    } catch (error) {
      slot.last = 'failed';
      log.warn({ ...where, err: error }, 'warm-up could not be submitted; clients are served as usual');
    } finally {
      slot.running = false;
    }
  }

  /** Submits the warm-up prompt and waits for its end, or for the timeout (then the prompt is removed or interrupted). */
  #submit(backend: string, graph: Workflow['graph']): Promise<Outcome> {
    const { transport, options, log } = this.deps;
    return new Promise<Outcome>((resolve, reject) => {
      let run: PromptRun | undefined;
      let over = false;
      const finish = (outcome: Outcome) => {
        if (over) return;
        over = true;
        clearTimeout(timer);
        this.#waiting.delete(closing);
        resolve(outcome);
      };
      const closing = () => finish({ type: 'closing' });
      const cancel = (target: PromptRun) =>
        void target.cancel().catch((error: unknown) => log.warn({ backend, err: error }, 'a timed-out warm-up could not be cancelled'));
      const timer = setTimeout(() => {
        finish({ type: 'timeout' });
        // It must not hold the backend: out of the queue, or interrupted if it runs.
        if (run) cancel(run);
      }, options.timeoutMs);
      this.#waiting.add(closing);
      transport
        .submit({ promptId: randomUUID(), backend, graph }, (event) => {
          if (TERMINAL_EVENTS.has(event.type)) finish(event as TerminalEvent);
        })
        .then((submitted) => {
          run = submitted;
          // Timed out while POST /prompt was still waiting for its answer.
          if (over && !this.#closed) cancel(submitted);
        })
        .catch((error: unknown) => {
          if (over) return;
          over = true;
          clearTimeout(timer);
          this.#waiting.delete(closing);
          reject(error instanceof Error ? error : new Error(String(error)));
        });
    });
  }

  status(): WarmupStatus[] {
    return [...this.#slots.values()].map((slot) => ({ backend: slot.backend, workflow: slot.workflow, state: stateOf(slot), seconds: slot.seconds }));
  }

  readinessReasons(): string[] {
    if (!this.deps.options.readyWaits || !this.deps.transport.fit) return [];
    const reasons: string[] = [];
    for (const workflow of this.marked()) {
      // Up and lacking nothing known: a backend whose capabilities are still being read counts too.
      const capable = this.deps.transport
        .fit({ graph: workflow.graph, workflow: workflow.alias })
        .filter((fit) => fit.up && fit.missing.length === 0)
        .map((fit) => fit.backend);
      // Done or failed on one of them is enough: a failed warm-up never holds clients back. A backend
      // announced without a warm-up of this workflow (it was added by a reload, or the backend's
      // capabilities could not be read) does not hold /ready either.
      const pending = capable.filter((backend) => {
        const slot = this.#slots.get(`${backend}\u0000${workflow.alias}`);
        return slot ? slot.queued || slot.running || slot.last === null : !this.#seen.has(backend);
      });
      if (capable.length > 0 && pending.length === capable.length) {
        reasons.push(`warm-up of workflow ${workflow.alias} is pending on ${pending.join(', ')}`);
      }
    }
    return reasons;
  }

  close(): void {
    this.#closed = true;
    for (const end of [...this.#waiting]) end();
  }
}

function stateOf(slot: Slot): WarmupStatus['state'] {
  if (slot.running) return 'running';
  if (slot.queued) return 'queued';
  // Its turn came while the backend was away (or the workflow gone): the next connect queues it again.
  return slot.last ?? 'skipped';
}

function reasonOf(outcome: Exclude<Outcome, { type: 'completed' | 'closing' }>, timeoutMs: number): string {
  switch (outcome.type) {
    case 'timeout':
      return `not ended after ${timeoutMs} ms; removed from the queue or interrupted`;
    case 'failed':
      return outcome.message;
    case 'interrupted':
      return 'interrupted on the backend';
    default:
      return outcome.reason;
  }
}
