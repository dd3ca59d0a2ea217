import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Graph } from '../../contracts/graph.js';
import type {
  BackendStatus,
  OutputRef,
  PromptLookup,
  SubmitResult,
  Transport,
  TransportEvent,
} from '../../contracts/transport.js';
import type { BackendConnection } from './backend-connection.js';
import { cancelPrompt, lookupPrompts } from './backend-queries.js';
import { BackendPool } from './backend-pool.js';
import { openOutput, uploadInput } from './file-transfer.js';
import { mapFrame } from './frame-events.js';
import { InFlightPrompts } from './in-flight-prompts.js';
import { ObjectInfoCache } from './object-info.js';
import type { ComfyuiOptions } from './options.js';
import { submitPrompt } from './prompt-submission.js';
import { toLookup } from './protocol.js';
import { Reconciler } from './reconciliation.js';
import type { TransportContext } from './transport-context.js';
import { unreachableAs503 } from './unreachable.js';

/**
 * The Transport over one or more ComfyUI backends. Events are routed by the bridge-minted
 * prompt_id; history is the source of truth after any gap (reconnect, silent socket, restart).
 * This class wires the pieces: backend-pool (choice), prompt-submission, frame-events (mapping),
 * in-flight-prompts + reconciliation (tracking and recovery), file-transfer.
 */
export class ComfyTransport implements Transport {
  readonly #ctx: TransportContext;
  readonly #reconciler: Reconciler;
  readonly #objectInfo = new ObjectInfoCache();
  readonly #closing = new AbortController();
  #housekeeping: NodeJS.Timeout | null = null;

  constructor(
    private readonly options: ComfyuiOptions,
    readonly clientId: string,
    log: Logger,
  ) {
    const events = {
      onText: (backend: BackendConnection, text: string) => mapFrame(this.#ctx, backend, text),
      onUp: (backend: BackendConnection) => void this.#reconciler.reconcile(backend),
    };
    this.#ctx = {
      options,
      clientId,
      log,
      closing: this.#closing.signal,
      backends: new BackendPool(options, clientId, events, log, this.#closing.signal),
      inFlight: new InFlightPrompts(log),
    };
    this.#reconciler = new Reconciler(this.#ctx);
  }

  /** Connects in the background; never waits for a backend. */
  start(): void {
    for (const backend of this.#ctx.backends.all) backend.start();
    const { pollIntervalMs, lostAfterMs } = this.options;
    const tick = Math.max(10, Math.min(1000, Math.floor(pollIntervalMs / 2), Math.floor(lostAfterMs / 2)));
    this.#housekeeping = setInterval(() => this.#reconciler.housekeep(), tick);
  }

  async close(): Promise<void> {
    this.#closing.abort();
    if (this.#housekeeping) clearInterval(this.#housekeeping);
    this.#housekeeping = null;
    await Promise.all(this.#ctx.backends.all.map((backend) => backend.close()));
    this.#ctx.inFlight.clearListeners();
  }

  isTracked(promptId: string): boolean {
    return this.#ctx.inFlight.has(promptId);
  }

  // ── Transport ──────────────────────────────────────────────────────────────

  pickBackend(): string | undefined {
    return this.#ctx.backends.pick();
  }

  submit(request: { promptId: string; graph: Graph; backend: string }): Promise<SubmitResult> {
    return submitPrompt(this.#ctx, request);
  }

  track(promptId: string, backendName: string): void {
    const { inFlight } = this.#ctx;
    if (inFlight.has(promptId)) return;
    const backend = this.#ctx.backends.get(backendName);
    if (!backend) {
      queueMicrotask(() =>
        inFlight.emit({ type: 'lost', promptId, backend: backendName, reason: `ComfyUI backend "${backendName}" is no longer configured` }),
      );
      return;
    }
    // lastNewsAt 0: events may have been missed while nobody tracked it, so check it at once.
    inFlight.add({ promptId, backend, submitting: false, settling: false, seenOutputs: [], lastNewsAt: 0 });
    if (backend.up) void this.#reconciler.reconcile(backend);
  }

  untrack(promptId: string): void {
    this.#ctx.inFlight.untrack(promptId);
  }

  onEvent(listener: (event: TransportEvent) => void): () => void {
    return this.#ctx.inFlight.onEvent(listener);
  }

  async cancel(promptId: string, backendName: string): Promise<'removed' | 'interrupted' | 'not_found'> {
    const backend = this.#ctx.backends.get(backendName);
    if (!backend) return 'not_found';
    const outcome = await unreachableAs503(backend, () => cancelPrompt(backend, promptId));
    if (outcome === 'removed') {
      // ComfyUI sends nothing for a prompt deleted from its queue: end it here, or it would wait forever.
      const tracked = this.#ctx.inFlight.get(promptId);
      if (tracked && tracked.backend === backend) this.#ctx.inFlight.finish(tracked, { type: 'interrupted', node: null });
    }
    return outcome;
  }

  async upload(backendName: string, file: { path: string; name: string; contentType: string }): Promise<string> {
    return uploadInput(this.#ctx.backends.require(backendName), file);
  }

  async fetchOutput(backendName: string, ref: OutputRef): Promise<{ stream: Readable; contentType: string; length: number | null }> {
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

  async lookup(promptId: string, backendName: string): Promise<PromptLookup> {
    const backend = this.#ctx.backends.get(backendName);
    if (!backend) return { state: 'unknown' };
    const found = await unreachableAs503(backend, () => lookupPrompts(backend, [promptId]));
    return toLookup(found.get(promptId) ?? { state: 'unknown' });
  }

  backends(): BackendStatus[] {
    return this.#ctx.backends.all.map((backend) => backend.status());
  }

  objectInfo(classType: string): Promise<Record<string, unknown> | undefined> {
    return this.#objectInfo.get(this.#ctx.backends.all, classType);
  }
}
