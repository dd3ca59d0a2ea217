import type { Logger } from 'pino';
import type { Graph } from '../../contracts/graph.js';
import {
  isGraphRejected,
  workflowUnavailable,
  type BackendFit,
  type RouteNeed,
} from '../../contracts/transport.js';
import type {
  BackendStatus,
  CancelOutcome,
  FetchedOutput,
  OutputRef,
  PromptListener,
  PromptRun,
  RunRequest,
  Transport,
} from '../../contracts/transport.js';
import type { BackendConnection } from './backend-connection.js';
import { cancelPrompt, lookupPrompts } from './backend-queries.js';
import { BackendChoice } from './backend-choice.js';
import { BackendPool } from './backend-pool.js';
import { CapabilityGeneration } from './capability-generation.js';
import { CapabilityStore } from './capability-store.js';
import { operatorFault } from './operator-fault.js';
import { openOutput, uploadInput } from './file-transfer.js';
import { InFlightPrompts, type Tracked } from './in-flight-prompts.js';
import { ObjectInfoCache } from './object-info.js';
import type { ComfyuiOptions } from './options.js';
import type { Ending } from './prompt-endings.js';
import { submitPrompt } from './prompt-submission.js';
import { toLookup, type PromptLookup } from './protocol.js';
import { Reconciler } from './reconciliation.js';
import { settleFromHistory } from './settle-from-history.js';
import type { TransportContext } from './transport-context.js';
import { unreachableAs503 } from './unreachable.js';

/**
 * The Transport over one or more ComfyUI backends. Events are routed by the bridge-minted
 * prompt_id; history is the source of truth after any gap (reconnect, silent socket, restart).
 * This class wires the pieces: backend-pool (choice), backend-connection (a socket's frames become
 * its prompts' events), prompt-submission, in-flight-prompts + reconciliation (the one registry,
 * watchdog and reconciler), settle-from-history, file-transfer.
 */
export class ComfyTransport implements Transport {
  readonly #ctx: TransportContext;
  readonly #reconciler: Reconciler;
  readonly #objectInfo: ObjectInfoCache;
  readonly #capabilities: CapabilityStore;
  readonly #choice: BackendChoice;
  readonly #generation: CapabilityGeneration;
  readonly #closing = new AbortController();
  #housekeeping: NodeJS.Timeout | null = null;
  #capabilityTimer: NodeJS.Timeout | null = null;
  /** onBackendUp listeners, and the backends they were told of for their current connection. */
  readonly #upListeners = new Set<(backend: string) => void>();
  readonly #announced = new Set<string>();

  constructor(
    private readonly options: ComfyuiOptions,
    readonly clientId: string,
    log: Logger,
  ) {
    const inFlight = new InFlightPrompts(log);
    const events = {
      prompts: inFlight,
      onEnd: (tracked: Tracked, end: Ending) => inFlight.finish(tracked, end),
      onSuccess: (tracked: Tracked) => void settleFromHistory(this.#ctx, tracked),
      onUp: (backend: BackendConnection) => {
        void this.#reconciler.reconcile(backend);
        // A backend that comes back may have gained or lost nodes and models while it was away.
        this.#announced.delete(backend.name);
        void this.#capabilities.refresh(backend, true).then(() => this.#announceUp(backend));
      },
    };
    this.#ctx = {
      options,
      clientId,
      log,
      closing: this.#closing.signal,
      backends: new BackendPool(options, clientId, events, log, this.#closing.signal),
      inFlight,
    };
    this.#reconciler = new Reconciler(this.#ctx);
    this.#objectInfo = new ObjectInfoCache(options.objectInfoTtlMs);
    this.#capabilities = new CapabilityStore(log, options.capabilitiesMinGapMs, (_backend, all) => this.#objectInfo.prime(all));
    const backends = this.#ctx.backends.all;
    const tags = new Map(backends.map((backend, index) => [backend.name, options.backends[index]?.tags ?? {}]));
    this.#choice = new BackendChoice(backends, this.#capabilities, tags, options.pins, options.affinity);
    this.#generation = new CapabilityGeneration(backends, this.#capabilities);
  }

  /** Connects in the background; never waits for a backend. */
  start(): void {
    for (const backend of this.#ctx.backends.all) backend.start();
    const { pollIntervalMs, lostAfterMs, moveQueuedAfterMs } = this.options;
    const tick = Math.max(10, Math.min(1000, Math.floor(pollIntervalMs / 2), Math.floor(lostAfterMs / 2), Math.floor(moveQueuedAfterMs / 2)));
    this.#housekeeping = setInterval(() => this.#reconciler.housekeep(), tick);
    this.#capabilityTimer = setInterval(() => {
      for (const backend of this.#ctx.backends.all) if (backend.up) void this.#capabilities.refresh(backend);
    }, this.options.capabilitiesRefreshMs);
    this.#capabilityTimer.unref();
  }

  async close(): Promise<void> {
    this.#closing.abort();
    if (this.#housekeeping) clearInterval(this.#housekeeping);
    this.#housekeeping = null;
    if (this.#capabilityTimer) clearInterval(this.#capabilityTimer);
    this.#capabilityTimer = null;
    await Promise.all(this.#ctx.backends.all.map((backend) => backend.close()));
    // Their owners keep them (persisted) and resume them on the next start.
    this.#ctx.inFlight.clear();
  }

  isTracked(promptId: string): boolean {
    return this.#ctx.inFlight.has(promptId);
  }

  // ── Transport ──────────────────────────────────────────────────────────────

  pickBackend(need?: RouteNeed): string | undefined {
    const chosen = this.#choice.pick(need);
    // None can run it: maybe a model was just installed; look again (throttled per backend).
    if (chosen === undefined && need) for (const backend of this.#ctx.backends.all) if (backend.up) void this.#capabilities.refresh(backend);
    return chosen;
  }

  fit(need: RouteNeed): BackendFit[] {
    return this.#choice.fit(need);
  }

  capabilityGeneration(): number {
    return this.#generation.current();
  }

  modelFiles(classType: string, input: string): string[] | undefined {
    return this.#capabilities.filesFor(this.#ctx.backends.all, `${classType}.${input}`);
  }

  async submit(request: RunRequest & { graph: Graph }, listener: PromptListener): Promise<PromptRun> {
    let submitted;
    try {
      submitted = await submitPrompt(this.#ctx, request, listener);
    } catch (error) {
      // A graph ComfyUI refuses for a node class or model file the backend lacks is the operator's
      // problem (the client's values were validated before, and clients cannot add nodes): 503, and a
      // warning naming the backend.
      const fault = isGraphRejected(error) ? operatorFault(error.extra.node_errors, this.#capabilities.modelInputs, error.cause) : [];
      if (fault.length === 0) throw error;
      this.#ctx.log.warn({ backend: request.backend, missing: fault, promptId: request.promptId }, 'ComfyUI refused the graph for what the backend lacks');
      const backend = this.#ctx.backends.get(request.backend);
      if (backend) void this.#capabilities.refresh(backend);
      throw workflowUnavailable(`ComfyUI backend ${request.backend} lacks ${fault.join(', ')}`, { [request.backend]: fault });
    }
    const { tracked, position } = submitted;
    this.#choice.submitted(tracked.backend.name, this.#choice.needs(request));
    return this.#run(tracked, position);
  }

  resume(request: RunRequest, listener: PromptListener): PromptRun {
    const { inFlight } = this.#ctx;
    const { promptId } = request;
    const backend = this.#ctx.backends.get(request.backend);
    if (!backend) {
      queueMicrotask(() =>
        listener({ type: 'lost', promptId, backend: request.backend, reason: `ComfyUI backend "${request.backend}" is no longer configured` }),
      );
      return { promptId, backend: request.backend, position: null, cancel: async () => 'not_found' };
    }
    const existing = inFlight.get(promptId);
    if (existing) {
      // Followed here already (an owner that let it go and now takes it back): the new owner hears it.
      existing.listener = listener;
      return this.#run(existing, null);
    }
    // lastNewsAt 0: events may have been missed while nobody followed it, so it is checked at once.
    const tracked: Tracked = {
      promptId,
      backend,
      listener,
      submitting: false,
      settling: false,
      started: false,
      seenOutputs: [],
      wholeRunOn: 0,
      lastNewsAt: 0,
      lastFrameAt: Date.now(),
      stuckAfterMs: request.stuckAfterMs ?? 0,
      checking: false,
    };
    inFlight.add(tracked);
    if (backend.up) void this.#reconciler.reconcile(backend);
    return this.#run(tracked, null);
  }

  #run(tracked: Tracked, position: number | null): PromptRun {
    return { promptId: tracked.promptId, backend: tracked.backend.name, position, cancel: () => this.#cancel(tracked) };
  }

  /**
   * Removes or interrupts the prompt, and makes sure its run ends once: ComfyUI says nothing for a
   * prompt deleted from its queue, and a prompt no longer in the queue ended (or was never there).
   */
  async #cancel(tracked: Tracked): Promise<CancelOutcome> {
    const { inFlight } = this.#ctx;
    const { backend, promptId } = tracked;
    const outcome = await unreachableAs503(backend, () => cancelPrompt(backend, promptId));
    if (outcome === 'removed') {
      inFlight.finish(tracked, { type: 'interrupted', node: null });
    } else if (outcome === 'not_found' && inFlight.isCurrent(tracked) && !tracked.settling) {
      const found = await lookupPrompts(backend, [promptId]).then((all) => all.get(promptId)).catch(() => undefined);
      if (found === undefined || found.state === 'unknown') inFlight.finish(tracked, { type: 'interrupted', node: null });
      else if (found.state === 'completed') inFlight.finish(tracked, { type: 'completed', outputs: found.outputs });
      else if (found.state === 'failed') inFlight.finish(tracked, { type: 'failed', node: found.node, nodeType: found.nodeType, exceptionType: found.exceptionType, message: found.message });
      else if (found.state === 'interrupted') inFlight.finish(tracked, { type: 'interrupted', node: found.node });
      // queued/running: it moved between the two reads; its own events end it.
    }
    // 'interrupted': ComfyUI stops at the next node boundary and says so; that event ends it.
    return outcome;
  }

  async upload(backendName: string, file: { path: string; name: string; contentType: string }): Promise<string> {
    return uploadInput(this.#ctx.backends.require(backendName), file);
  }

  async fetchOutput(backendName: string, ref: OutputRef): Promise<FetchedOutput> {
    return openOutput(this.#ctx.backends.require(backendName), ref);
  }

  async free(backendName?: string): Promise<{ name: string; url: string; ok: boolean }[]> {
    const targets = backendName === undefined ? this.#ctx.backends.all : [this.#ctx.backends.require(backendName)];
    return Promise.all(
      targets.map(async (backend) => {
        try {
          const res = await backend.http.json('POST', '/free', { unload_models: true, free_memory: true });
          return { name: backend.name, url: backend.url, ok: res.status === 200 };
        } catch (error) {
          backend.lastError = (error as Error).message;
          return { name: backend.name, url: backend.url, ok: false };
        }
      }),
    );
  }

  /** What a backend knows of a prompt now (not part of the Transport contract: the transport decides by itself). */
  async lookup(promptId: string, backendName: string): Promise<PromptLookup> {
    const backend = this.#ctx.backends.get(backendName);
    if (!backend) return { state: 'unknown' };
    const found = await unreachableAs503(backend, () => lookupPrompts(backend, [promptId]));
    return toLookup(found.get(promptId) ?? { state: 'unknown' });
  }

  backends(): BackendStatus[] {
    return this.#ctx.backends.all.map((backend) => backend.status());
  }

  onBackendUp(listener: (backend: string) => void): () => void {
    this.#upListeners.add(listener);
    // Told now of those already up: a subscriber that registers late misses no connection, and hears each once.
    const already = [...this.#announced];
    queueMicrotask(() => {
      for (const name of already) if (this.#upListeners.has(listener) && this.#ctx.backends.get(name)?.up) listener(name);
    });
    return () => this.#upListeners.delete(listener);
  }

  #announceUp(backend: BackendConnection): void {
    if (!backend.up || this.#closing.signal.aborted) return;
    this.#announced.add(backend.name);
    for (const listener of this.#upListeners) {
      try {
        listener(backend.name);
      } catch (error) {
        this.#ctx.log.error({ err: error, backend: backend.name }, 'backend-up listener threw');
      }
    }
  }

  objectInfo(classType: string, timeoutMs?: number): Promise<Record<string, unknown> | undefined> {
    return this.#objectInfo.get(this.#ctx.backends.all, classType, timeoutMs);
  }
}
