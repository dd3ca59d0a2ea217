import { basename, join } from 'node:path';
import type { Logger } from 'pino';
import type { Generation, GenerationState } from '../../core/contracts/generation.js';
import type { CreateGeneration, GenerationChange, GenerationFrame, GenerationService } from '../../core/contracts/generations.js';
import type { Graph } from '../../core/contracts/graph.js';
import type { Storage } from '../../core/contracts/storage.js';
import type { OutputRef, PromptLookup, Transport, TransportEvent } from '../../core/contracts/transport.js';
import type { UploadService } from '../../core/contracts/uploads.js';
import { backendUnavailable, badRequest, notFound } from '../../core/errors.js';
import type { Hooks } from '../../core/hooks.js';
import { contentTypeFor } from './content-types.js';
import { describeRuntimeFailure, messageOf, submitFailure } from './failures.js';
import { buildFrame } from './frame.js';
import { GENERATION_ID, newGenerationId, newPromptId } from './ids.js';
import { LiveGeneration, snapshot } from './live-generation.js';
import { nodesToRun, outputClasses } from './nodes-to-run.js';
import type { GenerationsOptions } from './options.js';
import { applyProgress, isProgressEvent, resetProgress } from './progress.js';
import { copyOutputs, safeFileName } from './result-files.js';

const shippedFile = (path: string) => ({ path, name: basename(path), contentType: contentTypeFor(basename(path), null) });

type Listener = (gen: Generation, change: GenerationChange) => void;

export interface GenerationManagerDeps {
  storage: Storage;
  transport: Transport;
  uploads: UploadService | undefined;
  hooks: Hooks;
  log: Logger;
  options: GenerationsOptions;
  /** `<dataDir>/results`: one folder per generation. */
  resultsDir: string;
  /** Base of public URLs (publicUrl, or the bound address). */
  baseUrl: () => string;
}

const retryAfter = { 'Retry-After': '5' };

/** A graph is plain JSON; a JSON round trip copies it several times faster than structuredClone. */
const cloneGraph = (graph: Graph): Graph => JSON.parse(JSON.stringify(graph)) as Graph;

/** What persisting writes: everything that changes while a generation lives (not the graph unless asked). */
function changingFields(gen: Generation): Partial<Generation> {
  const { id: _id, graph: _graph, createdAt: _c, clientId: _cl, owner: _o, workflow: _w, uploads: _u, uploadInputs: _ui, ...rest } = gen;
  return rest;
}

/**
 * The life of every generation: recorded before submission, followed through the transport's
 * events (routed by prompt_id), persisted on every state change, ended exactly once with its
 * results copied, and recovered after a bridge or backend restart.
 */
export class GenerationManager implements GenerationService {
  readonly #live = new Map<string, LiveGeneration>();
  readonly #byPrompt = new Map<string, LiveGeneration>();
  /** Live generations per clientId, so the per-client cap does not walk every live generation. */
  readonly #byClient = new Map<string, Set<LiveGeneration>>();
  readonly #listeners = new Set<Listener>();
  readonly #outputClasses = new Map<string, boolean>();
  #unsubscribe: (() => void) | null = null;
  #watchdog: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(private readonly deps: GenerationManagerDeps) {}

  /** Listens to the transport and starts the stuck watchdog. */
  start(): void {
    this.#unsubscribe = this.deps.transport.onEvent((event) => this.#onEvent(event));
    const tick = Math.max(10, Math.min(30_000, Math.floor(this.deps.options.stuckAfterMs / 2)));
    this.#watchdog = setInterval(() => this.#watch(), tick);
    this.#watchdog.unref();
  }

  /** Stops listening and writes what is pending; unfinished generations stay queued/running for the next start. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    if (this.#watchdog) clearInterval(this.#watchdog);
    const lives = [...this.#live.values()];
    for (const live of lives) {
      live.clearTimers();
      if (live.dirty) void live.run(() => this.#persist(live));
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(lives.map((live) => live.idle())),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, 3000))),
    ]);
    clearTimeout(timer);
  }

  // ── GenerationService ──────────────────────────────────────────────────────

  async create(request: CreateGeneration): Promise<Generation> {
    const { transport, storage, hooks } = this.deps;
    if (this.#closed) throw backendUnavailable('the bridge is shutting down', { headers: retryAfter });
    const backend = transport.pickBackend();
    if (!backend) throw backendUnavailable('no ComfyUI backend is reachable right now; try again shortly', { headers: retryAfter });

    const id = newGenerationId();
    const promptId = newPromptId();
    const uploadInputs = { ...request.uploads };
    const shippedInputs = { ...request.shippedFiles };
    let graph: Graph = cloneGraph(request.graph);
    await this.#placeUploads(graph, uploadInputs, shippedInputs, backend);
    graph = await hooks.beforeSubmit.promise(graph, {
      generationId: id,
      workflow: request.workflow,
      clientId: request.clientId,
      principal: request.principal,
      backend,
    });
    const totalNodes = (await this.#nodesToRun(graph)).size;
    const now = new Date().toISOString();
    const gen: Generation = {
      id,
      clientId: request.clientId,
      owner: request.principal.anonymous ? null : request.principal.id,
      workflow: request.workflow,
      state: 'queued',
      promptId,
      backend,
      graph,
      uploads: [...new Set(Object.values(uploadInputs))],
      uploadInputs,
      shippedInputs,
      createdAt: now,
      startedAt: null,
      finishedAt: null,
      updatedAt: now,
      position: null,
      percent: 0,
      node: null,
      step: null,
      maxSteps: null,
      totalNodes,
      doneNodes: [],
      results: [],
      error: null,
      attempts: 1,
    };
    await storage.generations.insert(gen);
    const live = new LiveGeneration(gen, this.deps.log);
    live.submitting = true;
    this.#register(live);
    this.#markUploadsUsed(live);
    this.#notify(gen, 'created');
    live.log.info({ workflow: gen.workflow, clientId: gen.clientId, backend, totalNodes }, 'generation recorded');

    let position: number;
    try {
      ({ position } = await transport.submit({ promptId, graph, backend }));
    } catch (error) {
      live.submitting = false;
      const failure = submitFailure(error, backend, id);
      live.log.debug({ err: error }, 'submission failed');
      await live.run(() => this.#finish(live, promptId, 'failed', failure.reason));
      throw failure.rethrow;
    }
    live.submitting = false;
    live.lastNewsAt = Date.now();
    await live.run(async () => {
      if (live.gen.promptId !== promptId) return;
      live.gen.position = position;
      await this.#persist(live);
      if (!live.ended) this.#notify(live.gen, 'updated');
    });
    await hooks.afterSubmit.promise(snapshot(live.gen)).catch((error: unknown) => live.log.error({ err: error }, 'afterSubmit hook failed'));
    if (live.interruptRequested && !live.ended) await this.#cancel(live).catch((error: unknown) => live.log.warn({ err: error }, 'deferred interrupt failed'));
    return snapshot(live.gen);
  }

  async get(id: string): Promise<Generation | undefined> {
    const live = this.#live.get(id);
    if (live) return snapshot(live.gen);
    return this.deps.storage.generations.get(id);
  }

  async latestForClient(clientId: string): Promise<Generation | undefined> {
    const stored = await this.deps.storage.generations.latestForClient(clientId);
    const live = stored && this.#live.get(stored.id);
    return live ? snapshot(live.gen) : stored;
  }

  async interrupt(id: string): Promise<Generation> {
    const live = this.#live.get(id);
    if (!live || live.ended) {
      const gen = await this.get(id);
      if (!gen) throw notFound(`no generation ${id}`);
      return gen;
    }
    live.interruptRequested = true;
    // Mid-submission the backend may not know the prompt yet: create() cancels once it does.
    if (!live.submitting) await this.#cancel(live);
    return snapshot(live.gen);
  }

  async waitForEnd(id: string, timeoutMs: number): Promise<Generation | undefined> {
    const live = this.#live.get(id);
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

  onChange(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  frame(gen: Generation): GenerationFrame {
    return buildFrame(gen, (g, file) => this.resultUrl(g, file));
  }

  resultUrl(gen: Generation, filename: string): string {
    return `${this.deps.baseUrl()}/results/${encodeURIComponent(gen.id)}/${encodeURIComponent(filename)}`;
  }

  resultPath(gen: Generation, filename: string): string {
    // Only names the bridge itself made are ever joined to a path.
    if (!GENERATION_ID.test(gen.id) || safeFileName(filename) !== filename) throw notFound(`no result ${filename}`);
    return join(this.deps.resultsDir, gen.id, filename);
  }

  activeCount(clientId: string): number {
    let count = 0;
    for (const live of this.#byClient.get(clientId) ?? []) if (!live.ended) count += 1;
    return count;
  }

  // ── recovery ───────────────────────────────────────────────────────────────

  /**
   * Takes every stored generation left queued or running back under watch (bridge restart) and asks
   * its backend what became of it, in the background. Resolves once they are loaded, not checked.
   */
  async adoptUnfinished(): Promise<number> {
    const unfinished = await this.deps.storage.generations.unfinished();
    for (const gen of unfinished) {
      if (this.#live.has(gen.id)) continue;
      const live = new LiveGeneration(gen, this.deps.log);
      this.#register(live);
      if (gen.backend === null) {
        void live.run(() => this.#lost(live, gen.promptId, 'it was recorded but never submitted'));
        continue;
      }
      this.deps.transport.track(gen.promptId, gen.backend);
      void this.#check(live, 'reconcile');
    }
    if (unfinished.length > 0) this.deps.log.info({ count: unfinished.length }, 'reconciling unfinished generations');
    return unfinished.length;
  }

  /** Asks the backend about one generation and acts on the answer (reconciliation, stuck watchdog). */
  async #check(live: LiveGeneration, why: 'reconcile' | 'stuck'): Promise<void> {
    if (live.checking || live.ended || this.#closed) return;
    live.checking = true;
    const { promptId, backend } = live.gen;
    const { stuckAfterMs, reconcileRetryMs } = this.deps.options;
    const silentFor = `no news from ComfyUI backend ${backend} for ${stuckAfterMs < 10_000 ? `${stuckAfterMs} ms` : `${Math.round(stuckAfterMs / 1000)} s`}`;
    try {
      let found: PromptLookup;
      try {
        found = await this.#lookup(promptId, backend ?? '');
      } catch (error) {
        if (why === 'stuck') {
          await live.run(() => this.#finish(live, promptId, 'failed', `${silentFor}, and it cannot be reached`));
        } else if (!this.#closed && !live.ended) {
          // Unreachable for now: ask again later; the transport reports `lost` if it stays down.
          live.log.debug({ err: error }, 'backend unreachable during reconciliation; will ask again');
          live.retryTimer = setTimeout(() => void this.#check(live, 'reconcile'), reconcileRetryMs);
          live.retryTimer.unref();
        }
        return;
      }
      if (live.gen.promptId !== promptId || live.ended) return;
      switch (found.state) {
        case 'completed':
          await live.run(() => this.#complete(live, promptId, found.outputs));
          return;
        case 'failed':
          await live.run(() =>
            this.#finish(live, promptId, 'failed', describeRuntimeFailure({ node: found.node, nodeType: null, exceptionType: null, message: found.message })),
          );
          return;
        case 'interrupted':
          await live.run(() => this.#finish(live, promptId, 'interrupted', `interrupted on ComfyUI backend ${backend}`));
          return;
        case 'unknown':
          await live.run(() => this.#lost(live, promptId, `ComfyUI backend ${backend} no longer knows the prompt`));
          return;
        case 'queued':
          // Waiting its turn behind other prompts is not being stuck.
          live.lastNewsAt = Date.now();
          return;
        case 'running':
          if (why === 'stuck') {
            void this.deps.transport.cancel(promptId, backend ?? '').catch(() => undefined);
            await live.run(() => this.#finish(live, promptId, 'failed', silentFor));
            return;
          }
          live.lastNewsAt = Date.now();
          await live.run(() => this.#markRunning(live, promptId));
          return;
      }
    } finally {
      live.checking = false;
    }
  }

  async #lookup(promptId: string, backend: string): Promise<PromptLookup> {
    const ms = Math.max(500, Math.min(10_000, this.deps.options.stuckAfterMs));
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.deps.transport.lookup(promptId, backend),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`lookup timed out after ${ms} ms`)), ms))),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  #watch(): void {
    const now = Date.now();
    for (const live of this.#live.values()) {
      if (live.ended || live.submitting || live.checking) continue;
      if (now - live.lastNewsAt >= this.deps.options.stuckAfterMs) void this.#check(live, 'stuck');
    }
  }

  // ── transport events ───────────────────────────────────────────────────────

  #onEvent(event: TransportEvent): void {
    if (this.#closed) return;
    const live = this.#byPrompt.get(event.promptId);
    if (!live) return; // another bridge's prompt, or one already ended
    live.lastNewsAt = Date.now();
    const { promptId } = event;
    if (isProgressEvent(event)) {
      void live.run(() => this.#progress(live, event));
      return;
    }
    switch (event.type) {
      case 'completed':
        void live.run(() => this.#complete(live, promptId, event.outputs));
        return;
      case 'failed':
        void live.run(() => this.#finish(live, promptId, 'failed', describeRuntimeFailure(event), event));
        return;
      case 'interrupted': {
        const reason = live.interruptRequested ? 'interrupted on request' : `interrupted on ComfyUI backend ${event.backend}`;
        void live.run(() => this.#finish(live, promptId, 'interrupted', reason, event));
        return;
      }
      case 'lost':
        void live.run(() => this.#lost(live, promptId, event.reason));
        return;
      default:
        return;
    }
  }

  async #progress(live: LiveGeneration, event: Extract<TransportEvent, { promptId: string }>): Promise<void> {
    if (live.gen.promptId !== event.promptId || live.ended || !isProgressEvent(event)) return;
    const change = applyProgress(live.gen, event, new Date().toISOString());
    if (change === 'state') {
      await this.#persist(live);
      this.#notify(live.gen, 'updated');
    } else if (change === 'progress') {
      this.#notify(live.gen, 'updated');
      this.#persistSoon(live);
    }
    this.#fireProgress(live, event);
  }

  async #markRunning(live: LiveGeneration, promptId: string): Promise<void> {
    if (live.gen.promptId !== promptId || live.gen.state !== 'queued') return;
    live.gen.state = 'running';
    live.gen.startedAt ??= new Date().toISOString();
    await this.#persist(live);
    this.#notify(live.gen, 'updated');
  }

  /** Copies every output into the result store, then (and only then) marks it completed. */
  async #complete(live: LiveGeneration, promptId: string, outputs: OutputRef[]): Promise<void> {
    if (live.gen.promptId !== promptId || live.ended) return;
    const backend = live.gen.backend ?? '';
    let results;
    try {
      results = await copyOutputs(join(this.deps.resultsDir, live.gen.id), outputs, (ref) => this.deps.transport.fetchOutput(backend, ref));
    } catch (error) {
      live.log.warn({ err: error }, 'copying results failed');
      await this.#finish(live, promptId, 'failed', `the generation ran, but its results could not be copied: ${messageOf(error)}`);
      return;
    }
    const gen = live.gen;
    gen.results = results;
    gen.state = 'completed';
    gen.percent = 100;
    gen.node = null;
    gen.step = null;
    gen.maxSteps = null;
    gen.error = null;
    gen.finishedAt = new Date().toISOString();
    gen.startedAt ??= gen.finishedAt;
    await this.#end(live);
    live.log.info({ files: results.length }, 'generation completed');
    await this.deps.hooks.afterComplete.promise(snapshot(gen)).catch((error: unknown) => live.log.error({ err: error }, 'afterComplete hook failed'));
  }

  /** Ends it failed or interrupted (once: later ends of the same prompt are ignored). */
  async #finish(
    live: LiveGeneration,
    promptId: string,
    state: Extract<GenerationState, 'failed' | 'interrupted'>,
    reason: string,
    event?: TransportEvent,
  ): Promise<void> {
    if (live.gen.promptId !== promptId || live.ended) return;
    const gen = live.gen;
    gen.state = state;
    gen.error = reason;
    gen.step = null;
    gen.maxSteps = null;
    gen.finishedAt = new Date().toISOString();
    if (event?.type === 'failed' && event.node !== null) gen.node = event.node;
    await this.#end(live);
    if (state === 'failed') {
      live.log.warn({ reason }, 'generation failed');
      await this.deps.hooks.failed.promise(snapshot(gen), reason).catch((error: unknown) => live.log.error({ err: error }, 'failed hook failed'));
    } else {
      live.log.info({ reason }, 'generation interrupted');
    }
  }

  async #end(live: LiveGeneration): Promise<void> {
    live.clearTimers();
    await this.#persist(live);
    this.#unregister(live);
    this.#notify(live.gen, 'finished');
  }

  /** The backend forgot the prompt: submit it again (once, by default) or fail it, per `onLost`. */
  async #lost(live: LiveGeneration, promptId: string, reason: string): Promise<void> {
    if (live.gen.promptId !== promptId || live.ended) return;
    const { onLost, maxAttempts } = this.deps.options;
    if (onLost === 'fail') return this.#finish(live, promptId, 'failed', reason);
    if (live.gen.attempts >= maxAttempts) {
      return this.#finish(live, promptId, 'failed', `${reason}; it was already submitted ${live.gen.attempts} time(s)`);
    }
    const backend = this.deps.transport.pickBackend();
    if (!backend) return this.#finish(live, promptId, 'failed', `${reason}, and no ComfyUI backend is reachable to submit it again`);
    await this.#resubmit(live, backend, reason);
  }

  async #resubmit(live: LiveGeneration, backend: string, reason: string): Promise<void> {
    const gen = live.gen;
    const oldPromptId = gen.promptId;
    const graph = cloneGraph(gen.graph);
    try {
      await this.#placeUploads(graph, gen.uploadInputs ?? {}, gen.shippedInputs ?? {}, backend);
    } catch (error) {
      return this.#finish(live, oldPromptId, 'failed', `${reason}; its images could not be uploaded again: ${messageOf(error)}`);
    }
    const promptId = newPromptId();
    this.#byPrompt.delete(oldPromptId);
    this.deps.transport.untrack(oldPromptId);
    gen.promptId = promptId;
    gen.backend = backend;
    gen.graph = graph;
    gen.attempts += 1;
    gen.state = 'queued';
    gen.position = null;
    gen.startedAt = null;
    resetProgress(gen);
    this.#byPrompt.set(promptId, live);
    live.relog();
    live.lastNewsAt = Date.now();
    live.log.warn({ reason, backend, attempt: gen.attempts }, 'backend lost the generation; submitting it again');
    await this.#persist(live, { graph });
    this.#notify(gen, 'updated');
    live.submitting = true;
    try {
      const { position } = await this.deps.transport.submit({ promptId, graph, backend });
      live.submitting = false;
      live.lastNewsAt = Date.now();
      gen.position = position;
      await this.#persist(live);
    } catch (error) {
      live.submitting = false;
      await this.#finish(live, promptId, 'failed', `${reason}; submitting it again failed: ${messageOf(error)}`);
      return;
    }
    if (live.interruptRequested) void this.#cancel(live).catch((error: unknown) => live.log.warn({ err: error }, 'deferred interrupt failed'));
  }

  async #cancel(live: LiveGeneration): Promise<void> {
    const { promptId, backend } = live.gen;
    const outcome = await this.deps.transport.cancel(promptId, backend ?? '');
    live.log.info({ outcome }, 'interrupt requested');
    if (outcome === 'removed') {
      await live.run(() => this.#finish(live, promptId, 'interrupted', 'interrupted on request before it started'));
    } else if (outcome === 'not_found') {
      // Not in the queue: it ended meanwhile, or the backend never had it (then nothing will run).
      const found = await this.#lookup(promptId, backend ?? '').catch(() => undefined);
      if (found?.state === 'completed') await live.run(() => this.#complete(live, promptId, found.outputs));
      else if (found?.state === 'failed') {
        const reason = describeRuntimeFailure({ node: found.node, nodeType: null, exceptionType: null, message: found.message });
        await live.run(() => this.#finish(live, promptId, 'failed', reason));
      } else if (found?.state === 'interrupted' || found?.state === 'unknown') {
        await live.run(() => this.#finish(live, promptId, 'interrupted', 'interrupted on request'));
      }
    }
    // 'interrupted': ComfyUI stops at the next node boundary and says so; the event ends it.
  }

  // ── helpers ────────────────────────────────────────────────────────────────

  /**
   * Puts each stored upload and each shipped workflow file on `backend` and points its graph input at
   * the name ComfyUI gave it (ComfyUI reads images only from its own input folder).
   */
  async #placeUploads(graph: Graph, uploadInputs: Record<string, string>, shippedInputs: Record<string, string>, backend: string): Promise<void> {
    const placed = new Map<string, string>();
    const files = Object.entries(uploadInputs).map(([key, name]) => ({ key, name, upload: true }));
    files.push(...Object.entries(shippedInputs).map(([key, path]) => ({ key, name: path, upload: false })));
    for (const { key, name, upload } of files) {
      const slash = key.indexOf('/');
      const node = slash > 0 ? graph[key.slice(0, slash)] : undefined;
      if (!node) throw badRequest(`input ${key} does not name a node of the workflow`);
      let remote = placed.get(name);
      if (remote === undefined) {
        remote = await this.deps.transport.upload(backend, upload ? await this.#uploadFile(key, name) : shippedFile(name));
        placed.set(name, remote);
      }
      node.inputs = { ...node.inputs, [key.slice(slash + 1)]: remote };
    }
  }

  async #uploadFile(key: string, name: string): Promise<{ path: string; name: string; contentType: string }> {
    const uploads = this.deps.uploads;
    if (!uploads) throw badRequest(`input ${key} names an upload, but uploads are not enabled on this bridge`);
    const record = await this.deps.storage.uploads.get(name);
    return { path: uploads.pathOf(name), name, contentType: record?.contentType ?? contentTypeFor(name, null) };
  }

  #markUploadsUsed(live: LiveGeneration): void {
    const uploads = this.deps.uploads;
    if (!uploads) return;
    for (const name of live.gen.uploads) {
      void uploads.markUsed(name, live.gen.id).catch((error: unknown) => live.log.warn({ err: error, upload: name }, 'could not mark upload used'));
    }
  }

  async #nodesToRun(graph: Graph): Promise<Set<string>> {
    const classes = Object.values(graph).map((node) => node.class_type);
    const outputs = await outputClasses(
      classes,
      (classType) => this.deps.transport.objectInfo(classType),
      this.#outputClasses,
      this.deps.options.objectInfoTimeoutMs,
    );
    return nodesToRun(graph, outputs);
  }

  #register(live: LiveGeneration): void {
    this.#live.set(live.gen.id, live);
    this.#byPrompt.set(live.gen.promptId, live);
    const ofClient = this.#byClient.get(live.gen.clientId);
    if (ofClient) ofClient.add(live);
    else this.#byClient.set(live.gen.clientId, new Set([live]));
  }

  #unregister(live: LiveGeneration): void {
    this.#live.delete(live.gen.id);
    if (this.#byPrompt.get(live.gen.promptId) === live) this.#byPrompt.delete(live.gen.promptId);
    const ofClient = this.#byClient.get(live.gen.clientId);
    if (ofClient?.delete(live) && ofClient.size === 0) this.#byClient.delete(live.gen.clientId);
    this.deps.transport.untrack(live.gen.promptId);
  }

  async #persist(live: LiveGeneration, extra: Partial<Generation> = {}): Promise<void> {
    if (live.persistTimer) clearTimeout(live.persistTimer);
    live.persistTimer = null;
    live.dirty = false;
    live.lastPersistAt = Date.now();
    live.gen.updatedAt = new Date().toISOString();
    try {
      await this.deps.storage.generations.update(live.gen.id, { ...changingFields(live.gen), ...extra });
    } catch (error) {
      live.log.error({ err: error }, 'could not persist the generation');
    }
  }

  /** Percent-only changes: at most one write per progressPersistMs per generation. */
  #persistSoon(live: LiveGeneration): void {
    live.dirty = true;
    if (live.persistTimer || this.#closed) return;
    const delay = Math.max(0, live.lastPersistAt + this.deps.options.progressPersistMs - Date.now());
    live.persistTimer = setTimeout(() => {
      live.persistTimer = null;
      void live.run(async () => {
        if (live.dirty && !live.ended) await this.#persist(live);
      });
    }, delay);
    live.persistTimer.unref();
  }

  #notify(gen: Generation, change: GenerationChange): void {
    if (this.#listeners.size === 0) return;
    const copy = snapshot(gen);
    for (const listener of [...this.#listeners]) {
      try {
        listener(copy, change);
      } catch (error) {
        this.deps.log.error({ err: error, genId: gen.id }, 'generation listener threw');
      }
    }
  }

  #fireProgress(live: LiveGeneration, event: TransportEvent): void {
    if (!this.deps.hooks.progress.isUsed()) return;
    try {
      this.deps.hooks.progress.call(snapshot(live.gen), event);
    } catch (error) {
      live.log.error({ err: error }, 'progress hook threw');
    }
  }
}
