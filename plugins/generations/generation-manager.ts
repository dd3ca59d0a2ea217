import { join } from 'node:path';
import type { Generation } from '../../contracts/generation.js';
import type { CreateGeneration, GenerationFrame, GenerationService } from '../../plugins/generations/api.js';
import { notFound } from '../../core/errors.js';
import { cancel } from './cancel.js';
import { routeEvent } from './event-routing.js';
import { buildFrame } from './frame.js';
import { GenerationContext, type ChangeListener, type GenerationManagerDeps } from './generation-context.js';
import { GENERATION_ID } from './ids.js';
import { snapshot } from './live-generation.js';
import { persist } from './persistence.js';
import { adoptUnfinished, checkSilent } from './reconciliation.js';
import { safeFileName } from './result-files.js';
import { createGeneration } from './submission.js';

export type { GenerationManagerDeps } from './generation-context.js';

/**
 * The life of every generation: recorded before submission, followed through the transport's
 * events (routed by prompt_id), persisted on every state change, ended exactly once with its
 * results copied, and recovered after a bridge or backend restart. This class wires the pieces
 * (submission, event-routing, transitions, reconciliation, resubmission) around one shared context.
 */
export class GenerationManager implements GenerationService {
  readonly #ctx: GenerationContext;
  #unsubscribe: (() => void) | null = null;
  #watchdog: NodeJS.Timeout | null = null;

  constructor(deps: GenerationManagerDeps) {
    this.#ctx = new GenerationContext(deps);
  }

  /** Listens to the transport and starts the stuck watchdog. */
  start(): void {
    const ctx = this.#ctx;
    this.#unsubscribe = ctx.deps.transport.onEvent((event) => routeEvent(ctx, event));
    const tick = Math.max(10, Math.min(30_000, Math.floor(ctx.deps.options.stuckAfterMs / 2)));
    this.#watchdog = setInterval(() => checkSilent(ctx), tick);
    this.#watchdog.unref();
  }

  /** Stops listening and writes what is pending; unfinished generations stay queued/running for the next start. */
  async close(): Promise<void> {
    const ctx = this.#ctx;
    if (ctx.closed) return;
    ctx.closed = true;
    this.#unsubscribe?.();
    if (this.#watchdog) clearInterval(this.#watchdog);
    const lives = [...ctx.live.all()];
    for (const live of lives) {
      live.clearTimers();
      if (live.dirty) void live.run(() => persist(ctx, live));
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(lives.map((live) => live.idle())),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, 3000))),
    ]);
    clearTimeout(timer);
  }

  /** See reconciliation.ts: resolves once the unfinished generations are loaded, not checked. */
  adoptUnfinished(): Promise<number> {
    return adoptUnfinished(this.#ctx);
  }

  // ── GenerationService ──────────────────────────────────────────────────────

  create(request: CreateGeneration): Promise<Generation> {
    return createGeneration(this.#ctx, request);
  }

  async get(id: string): Promise<Generation | undefined> {
    const live = this.#ctx.live.get(id);
    if (live) return snapshot(live.gen);
    return this.#ctx.deps.storage.generations.get(id);
  }

  async latestForClient(clientId: string): Promise<Generation | undefined> {
    const stored = await this.#ctx.deps.storage.generations.latestForClient(clientId);
    const live = stored && this.#ctx.live.get(stored.id);
    return live ? snapshot(live.gen) : stored;
  }

  async interrupt(id: string): Promise<Generation> {
    const live = this.#ctx.live.get(id);
    if (!live || live.ended) {
      const gen = await this.get(id);
      if (!gen) throw notFound(`no generation ${id}`);
      return gen;
    }
    live.interruptRequested = true;
    // Mid-submission the backend may not know the prompt yet: create() cancels once it does.
    if (!live.submitting) await cancel(this.#ctx, live);
    return snapshot(live.gen);
  }

  async waitForEnd(id: string, timeoutMs: number): Promise<Generation | undefined> {
    const live = this.#ctx.live.get(id);
    if (!live) return this.get(id);
    return new Promise((resolve) => {
      const off = this.onChange((gen, change) => {
        if (gen.id !== id || change !== 'finished') return;
        clearTimeout(timer);
        off();
        resolve(gen);
      });
      const timer = setTimeout(() => {
        off();
        resolve(undefined);
      }, timeoutMs);
    });
  }

  onChange(listener: ChangeListener): () => void {
    const listeners = this.#ctx.listeners;
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }

  frame(gen: Generation): GenerationFrame {
    return buildFrame(gen, (g, file) => this.resultUrl(g, file));
  }

  resultUrl(gen: Generation, filename: string): string {
    return `${this.#ctx.deps.baseUrl()}/results/${encodeURIComponent(gen.id)}/${encodeURIComponent(filename)}`;
  }

  resultPath(gen: Generation, filename: string): string {
    // Only names the bridge itself made are ever joined to a path.
    if (!GENERATION_ID.test(gen.id) || safeFileName(filename) !== filename) throw notFound(`no result ${filename}`);
    return join(this.#ctx.deps.resultsDir, gen.id, filename);
  }

  activeCount(clientId?: string): number {
    return this.#ctx.live.activeCount(clientId);
  }
}
