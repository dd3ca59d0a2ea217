import type { Logger } from 'pino';
import type { Bus } from '../../contracts/bus.js';
import { clientTopic, type ClientFrame } from '../../contracts/client-frame.js';
import { FINAL_STATES, type Generation } from '../../contracts/generation.js';
import type { CreateGeneration } from './api.js';
import type { Storage } from '../../contracts/storage.js';
import { backendUnavailable, retryAfter, type OutputRef, type PromptRun, type Transport, type TransportEvent } from '../../contracts/transport.js';
import type { UploadService } from '../../plugins/upload/api.js';
import type { BridgeError } from '../../core/errors.js';
import type { GenerationHooks } from './api.js';
import { submitFailure, messageOf } from './failures.js';
import { apply, applyTransport, buildFrame, clientFrames, newGeneration, progressPatch, type Effect, type GenerationEvent, type Life, type RenderedFrame, type ResultUrl, type StepContext } from './generation.js';
import { newGenerationId, newPromptId } from './ids.js';
import { cloneGraph, countNodesToRun, placeInputs } from './inputs.js';
import { FairQueue, fairShareKey, transportChoice } from './fair-queue.js';
import type { GenerationsOptions } from './options.js';
import type { ResultStore } from '../../plugins/results/api.js';
import { PacedWrites } from './paced-writes.js';
import { RowWriter } from './row-writer.js';
import { OutputPrefetch } from './output-prefetch.js';
import { lifeMarks, markLife } from '../../contracts/life-marks.js';

/** How long close() waits for chains still busy before it lets the process stop. */
const CLOSE_WAIT_MS = 1500;

export interface RunnerDeps {
  storage: Storage;
  transport: Transport;
  uploads: UploadService | undefined;
  hooks: GenerationHooks;
  log: Logger;
  options: GenerationsOptions;
  /** The result files' owner: generations copies into it. */
  results: ResultStore;
  /** Where each client's frames go (topic `client:<clientId>`); the bus numbers them. */
  bus: Bus;
  resultUrl: ResultUrl;
}

/** One live generation: its machine state, its transport run, and the queue its effects run in. */
interface Entry {
  life: Life;
  run: PromptRun | null;
  log: Logger;
  chain: Promise<void>;
  /** Progress-only changes not written yet. */
  dirty: boolean;
  lastPersistAt: number;
  persistTimer: NodeJS.Timeout | null;
  /** What create() must throw once its submission ran. */
  submitError: BridgeError | undefined;
  /** What interrupt() must throw once its cancel ran (the backend could not be reached). */
  cancelError: BridgeError | undefined;
  /** The bus topic of its client's frames. */
  topic: string;
  /** Another instance took it over (letGo): nothing more is done for it here. */
  released: boolean;
  /** Its row's writes, in order (#persist). */
  writer: RowWriter;
  /** The state its last requested write stored. */
  writtenState: Generation['state'];
  /** The generation as its row holds it after the last write that went through (a progress write then stores only what moved). */
  stored: Generation | undefined;
  /** results.prepare was asked for its folder (when its first node ran); discarded at its end unless copied. */
  resultsReadied: boolean;
  /** Its outputs asked for when `executed` announced them; taken by the copy, the rest dropped at its end. */
  prefetch: OutputPrefetch | null;
  /** Its client's live generations (#byClient's set, which holds this one while it lives). */
  ofClient: Set<string>;
}

/** What persisting writes: everything that changes while a generation lives (not the graph unless asked). */
function changingFields(gen: Generation): Partial<Generation> {
  const { id: _id, graph: _graph, createdAt: _c, clientId: _cl, owner: _o, workflow: _w, uploads: _u, uploadInputs: _ui, ...rest } = gen;
  return rest;
}

/**
 * The only place that performs a generation's effects: it feeds events to the pure machine
 * (generation.ts) and runs what the machine asks for (persist, submit, cancel, copy results,
 * publish), one task at a time per generation, so events, resubmissions and the end are applied
 * and persisted in the order they happened.
 */
export class Runner {
  readonly #live = new Map<string, Entry>();
  /** Live generations per clientId, so the per-client cap does not walk every live generation. */
  readonly #byClient = new Map<string, Set<string>>();
  #closed = false;
  /** The bridge queue, when on (options.fairShare.maxPromptsPerBackend > 0). */
  readonly #fair: FairQueue | undefined;

  constructor(private readonly deps: RunnerDeps) {
    this.#progressContext = { now: '', policy: deps.options, resultUrl: deps.resultUrl };
    const fairShare = deps.options.fairShare;
    if (fairShare && fairShare.maxPromptsPerBackend > 0) this.#fair = new FairQueue(fairShare, transportChoice(deps.transport));
  }

  // ── reading ───────────────────────────────────────────────────────────────

  /** The live copy, if it still lives (generation objects are replaced on change, never edited). */
  live(id: string): Generation | undefined {
    const entry = this.#live.get(id);
    // An end is shown once its row is stored: until then a reader sees the last stored row, so no one
    // polls `closed` (or a result URL the store cannot answer yet) before the end would survive a crash.
    const gen = entry && FINAL_STATES.has(entry.life.gen.state) && entry.stored ? entry.stored : entry?.life.gen;
    // A held generation's place in the bridge queue moves as others are released.
    const position = gen && this.#fair?.position(id);
    return position === undefined ? gen : { ...gen!, position };
  }

  activeCount(clientId?: string): number {
    return clientId === undefined ? this.#live.size : (this.#byClient.get(clientId)?.size ?? 0);
  }

  heldCount(): number {
    return this.#fair?.heldCount ?? 0;
  }

  // ── the three ways a generation starts being followed, and interrupt ──────────

  /** Records a generation before submitting it (so a crash mid-submission leaves a trace to reconcile), then submits it. */
  async create(request: CreateGeneration): Promise<Generation> {
    const { transport, storage, hooks, options } = this.deps;
    markLife('create');
    if (this.#closed) throw backendUnavailable('the bridge is shutting down', { headers: retryAfter() });
    const backend = transport.pickBackend({ graph: request.graph, workflow: request.workflow });
    if (!backend) throw backendUnavailable('no ComfyUI backend is reachable right now; try again shortly', { headers: retryAfter() });

    const id = request.id ?? newGenerationId();
    const uploadInputs = { ...request.uploads };
    const shippedInputs = { ...request.shippedFiles };
    let graph = cloneGraph(request.graph);
    // With the bridge queue on, a generation goes straight to a backend only when one has room and nobody waits.
    const need = { graph: request.graph, workflow: request.workflow };
    const slot = this.#fair ? this.#fair.claim(id, need) : backend;
    let totalNodes: number;
    try {
      // A held generation's inputs are placed when it is released, on the backend it goes to.
      // Steps with nothing to do are skipped, not awaited: each await is a turn of promise jobs before the row.
      if (slot !== undefined && hasFiles(uploadInputs, shippedInputs)) await placeInputs(this.deps, graph, uploadInputs, shippedInputs, slot);
      if (hooks.beforeSubmit.isUsed()) {
        graph = await hooks.beforeSubmit.promise(graph, { generationId: id, workflow: request.workflow, clientId: request.clientId, principal: request.principal, backend: slot ?? backend });
      }
      totalNodes = await countNodesToRun(transport, graph, options.objectInfoTimeoutMs);
    } catch (error) {
      this.#fair?.free(id);
      throw error;
    }
    const gen = newGeneration({
      id,
      promptId: newPromptId(),
      clientId: request.clientId,
      owner: request.principal.anonymous ? null : request.principal.id,
      workflow: request.workflow,
      backend: slot ?? null,
      graph,
      uploadInputs,
      shippedInputs,
      totalNodes,
      now: new Date().toISOString(),
    });
    markLife('create: row made');
    if (slot === undefined) return this.#createHeld(gen);
    // The prompt is submitted once the row is in the datafile (a kill of this process cannot lose it
    // from then on) and the answer waits for both the submission and the row's fdatasync, which run
    // at the same time (docs/architecture.md, "The answer path"). A store without that step: its insert.
    let inFile!: () => void;
    const written = new Promise<void>((resolve) => (inFile = resolve));
    const stored = storage.generations.insert(gen, inFile);
    stored.catch(() => undefined);
    try {
      await Promise.race([written, stored]);
      markLife('create: row in the file');
    } catch (error) {
      this.#fair?.free(id);
      throw error;
    }
    const entry = this.#add({ gen, phase: 'submitting', interruptRequested: false, frameKey: '' });
    this.#call('created', () => hooks.created.call(gen), entry);
    // The prompt leaves now, before the `queued` frame is published and the log line written; its outcome
    // is applied in the generation's queue after `created`, and its events queue behind that.
    const sending = this.#send(entry);
    // Node's HTTP client writes the POST in a process.nextTick (when it hands the request its kept-alive
    // socket), and a tick queued now runs only once every promise job queued before it has: the frame, the
    // log line and what else this turn does would go first. Waiting for one tick lets the POST leave now.
    await nextTick();
    this.#markUploadsUsed(entry);
    void this.#feed(entry, { type: 'created' });
    entry.log.info({ workflow: gen.workflow, clientId: gen.clientId, backend: slot, totalNodes }, 'generation recorded');
    // Applied once the row is stored too: the outcome asks for the row's first write (and the run's events
    // behind it for `running`), and a store updates only a row its insert has stored (nedb ignores the rest).
    const outcome = () => this.#submitted(entry, sending, undefined);
    const submitted = this.#enqueue(entry, () => stored.then(outcome, outcome));
    // ComfyUI starts a prompt as it answers the POST: its first events (started, executing) arrive just before
    // the answer and queue behind the outcome. They wait one turn of the event loop, so the client's answer,
    // due in this turn, is written before their frames and the `running` row's write.
    void this.#enqueue(entry, nextTurn);
    const refused = await stored.then(
      () => markLife('create: row synced'),
      (error: unknown) => error ?? new Error('the generation could not be stored'),
    );
    if (refused !== undefined) return this.#unstored(entry, submitted, refused);
    // The row is on the disk and ComfyUI took the prompt: the answer leaves now, with the position ComfyUI
    // gave. The `submitted` step runs in the generation's queue meanwhile, not before the answer: it records
    // that position (a deferred row write), publishes a frame only if the client's frame changed (a submitted
    // generation's does not: its position is not in it), and cancels the prompt when an interrupt came during
    // the submission (ComfyUI's answer to that cancel is not waited for). The client's frames keep their
    // order; the first (`created`, queued before) is handed to the bus before the row's sync ends. A refused
    // prompt still waits for its step: its frames end `failed` before the request is refused.
    const run = await sending.catch(() => undefined);
    if (run === undefined) {
      await submitted;
      if (entry.submitError) throw entry.submitError;
      return entry.life.gen;
    }
    markLife('create: answered');
    return { ...entry.life.gen, position: run.position };
  }

  /**
   * Its row reached the datafile but its sync failed (the store refused it and undid it): the prompt,
   * if ComfyUI took it, is cancelled there, the generation ends `failed` for its client's socket, and
   * the request is refused with the store's error.
   */
  async #unstored(entry: Entry, submitted: Promise<void>, refused: unknown): Promise<never> {
    await submitted;
    const { promptId } = entry.life.gen;
    await entry.run?.cancel().catch((error: unknown) => entry.log.warn({ err: error }, 'could not cancel the prompt of a generation that could not be stored'));
    entry.log.error({ err: refused }, 'the generation could not be stored; its prompt was cancelled');
    await this.#feed(entry, { type: 'submit-failed', promptId, reason: `it could not be stored: ${messageOf(refused)}` });
    throw refused;
  }

  /** Every backend able to run it is saturated, or others wait: recorded (durable, backend null), then held in the bridge queue. */
  async #createHeld(gen: Generation): Promise<Generation> {
    await this.deps.storage.generations.insert(gen);
    const entry = this.#add({ gen, phase: 'held', interruptRequested: false, frameKey: '' });
    this.#markUploadsUsed(entry);
    this.#call('created', () => this.deps.hooks.created.call(gen), entry);
    this.#hold(entry);
    entry.log.info({ workflow: gen.workflow, clientId: gen.clientId, position: entry.life.gen.position, totalNodes: gen.totalNodes }, 'generation recorded and held in the bridge queue');
    await this.#feed(entry, { type: 'created' });
    this.#fair!.pump();
    return this.live(gen.id)!;
  }

  /** Into the bridge queue, its position shown in its first frame and again when it moves; released by the queue into the generation's own task queue. */
  #hold(entry: Entry): void {
    const { gen } = entry.life;
    const moved = (position: number) => void this.#enqueue(entry, () => this.#moved(entry, position));
    const position = this.#fair!.hold({ id: gen.id, key: fairShareKey(gen), need: { graph: gen.graph, workflow: gen.workflow }, release: (backend) => void this.#enqueue(entry, () => this.#release(entry, backend)), moved });
    entry.life = { ...entry.life, gen: { ...gen, position } };
  }

  /** Still held, at a new place in the bridge queue: a frame saying so (the machine's frames leave out position-only changes). */
  async #moved(entry: Entry, position: number): Promise<void> {
    if (entry.life.phase !== 'held') return;
    const gen = { ...entry.life.gen, position };
    entry.life = { ...entry.life, gen };
    await this.#publish(entry, [{ ...buildFrame(gen, this.deps.resultUrl), generationId: gen.id, ends: false }]);
  }

  /** Released by the bridge queue: its inputs placed on `backend`, then the machine writes the backend and submits. */
  async #release(entry: Entry, backend: string): Promise<void> {
    const { gen } = entry.life;
    if (entry.life.phase !== 'held' || this.#closed) {
      // Ended meanwhile (interrupted), or the bridge stops: it stays stored as it is.
      this.#fair?.free(gen.id);
      return;
    }
    const graph = cloneGraph(gen.graph);
    try {
      await placeInputs(this.deps, graph, gen.uploadInputs ?? {}, gen.shippedInputs ?? {}, backend);
    } catch (error) {
      return this.#step(entry, { type: 'submit-failed', promptId: gen.promptId, reason: `its images could not be put on ComfyUI backend ${backend}: ${messageOf(error)}` });
    }
    entry.log.info({ backend }, 'released from the bridge queue');
    return this.#step(entry, { type: 'released', backend, graph });
  }

  /** A generation left queued or running by an earlier run of the bridge: follow its prompt again. */
  adopt(gen: Generation): void {
    if (this.#live.has(gen.id) || this.#closed) return;
    if (gen.backend === null && this.#fair) {
      // Held when the bridge stopped: back into the line (it never reached a backend).
      // Not pumped here: the generations adopted with it may occupy backends first (the queue retries every 500 ms).
      const held = this.#add({ gen, phase: 'held', interruptRequested: false, frameKey: '' });
      this.#hold(held);
      return;
    }
    const entry = this.#add({ gen, phase: 'submitted', interruptRequested: false, frameKey: '' });
    if (gen.backend !== null) this.#fair?.occupy(gen.id, gen.backend);
    if (gen.backend === null) {
      const lost: TransportEvent = { type: 'lost', promptId: gen.promptId, backend: '', reason: 'it was recorded but never submitted' };
      void this.#feed(entry, { type: 'transport', event: lost });
      return;
    }
    entry.run = this.deps.transport.resume({ promptId: gen.promptId, backend: gen.backend, stuckAfterMs: this.deps.options.stuckAfterMs }, this.#listener(entry));
  }

  /**
   * A finished generation whose end its instance stored but died before announcing (claimed from the
   * store by recovery): its terminal frames, rendered from the stored generation, published on its
   * client's topic. Rejects when the bus refuses them. Not when the bus already keeps its closing
   * frame: the instance died after publishing it but before marking it announced.
   */
  async announceEnd(gen: Generation): Promise<void> {
    const topic = clientTopic(gen.clientId);
    const kept = await this.deps.bus.replay<ClientFrame>(topic, 0);
    if (kept.some((message) => message.payload.generationId === gen.id && message.payload.ends)) return;
    const { frames } = clientFrames(gen, '', this.deps.resultUrl);
    const active = this.activeCount(gen.clientId);
    for (const frame of frames) await this.deps.bus.publish<ClientFrame>(topic, { ...frame, active });
  }

  /** Asks for a stop; resolves once what the backend said is applied. undefined when it no longer lives. */
  async interrupt(id: string): Promise<Generation | undefined> {
    const entry = this.#live.get(id);
    if (!entry) return undefined;
    entry.cancelError = undefined;
    await this.#feed(entry, { type: 'interrupt' });
    // A prompt removed from the queue ended at once: its end was queued behind the interrupt.
    await entry.chain;
    const error = entry.cancelError;
    entry.cancelError = undefined;
    if (error) throw error;
    return entry.life.gen;
  }

  /**
   * Another instance follows it now (its lease ran out here and was claimed there): stop following it
   * without writing or publishing anything more, so its end is recorded and announced once, by its owner.
   */
  letGo(id: string): void {
    const entry = this.#live.get(id);
    if (!entry) return;
    entry.released = true;
    if (entry.persistTimer) clearTimeout(entry.persistTimer);
    entry.persistTimer = null;
    this.#remove(entry.life.gen);
    entry.run = null;
    if (entry.resultsReadied) this.deps.results.discard?.(id, true);
    this.#dropPrefetched(entry);
    entry.log.warn('another instance follows this generation now; this one lets it go');
  }

  /** Stops following; writes what is pending. Unfinished generations stay queued/running for the next start. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#fair?.close();
    const entries = [...this.#live.values()];
    for (const entry of entries) {
      if (entry.persistTimer) clearTimeout(entry.persistTimer);
      entry.persistTimer = null;
      if (entry.dirty) void this.#enqueue(entry, () => this.#writeNow(entry));
    }
    // Bounded so the whole stop stays within docker's and Kubernetes' grace: a chain still busy (a copy,
    // a submit in flight) is picked up again by recovery at the next start, from what is stored.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(entries.map((entry) => entry.chain.then(() => entry.writer.idle()))),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS))),
    ]);
    clearTimeout(timer);
  }

  // ── the machine and its effects ─────────────────────────────────────────────

  #listener(entry: Entry) {
    return (event: TransportEvent): void => {
      if (this.#closed || entry.released) return;
      // (Checked here: a progress event runs no code of life-marks.ts while nothing listens.)
      if (lifeMarks.hasSubscribers) markLife('transport:', event.type);
      // Its first node runs: the result folder is readied now, while the loop waits for ComfyUI, not after the end.
      // (Not at `started`, which often comes just before ComfyUI's answer to the POST: the client's answer is due.)
      let asked = 0;
      if (event.type === 'executing' && !entry.resultsReadied) this.#readyResults(entry);
      // Saved by ComfyUI: copied now into the readied folder (or at least asked for), so the copy after the run's end
      // finds the files written and synced, or the answer on its way.
      else if (event.type === 'executed' && event.outputs.length > 0) asked = this.#outputsAnnounced(entry, event);
      // An `executed` that asked for outputs is applied in the queue, a promise job: node writes a request in a
      // process.nextTick, which runs before promise jobs when the frame came from the socket, so the GET /view
      // leaves before the frame's work rather than after it.
      if (asked === 0 && entry.chain === IDLE && PROGRESS_EVENTS.has(event.type) && this.#progressNow(entry, event)) return;
      void this.#feed(entry, { type: 'transport', event });
    };
  }

  /** #progressNow's step context, one object for every event (the machine reads it during the step and keeps none of it). */
  readonly #progressContext: StepContext;

  /**
   * The hot path (one call per progress event of every generation): with nothing queued for the
   * generation, a change that only publishes frames and asks for a later write is applied here, at
   * once, instead of as a task of its queue. The queue stays busy until the bus has taken the frames,
   * so a later event is still published after them. false (nothing done) for any other change.
   */
  #progressNow(entry: Entry, event: TransportEvent): boolean {
    const context = this.#progressContext;
    context.now = isoNow();
    const { life, effects } = applyTransport(entry.life, event, context);
    for (const effect of effects) if (effect.type !== 'publish' && effect.type !== 'persist-soon') return false;
    entry.life = life;
    for (const effect of effects) {
      if (effect.type === 'persist-soon') this.#persistSoon(entry);
      else if (effect.type === 'publish') {
        // A bus that takes the frame in this turn: nothing for the queue to wait on.
        if (effect.frames.length !== 1 || !this.#handOver(entry, effect.frames[0]!)) this.#track(entry, effect.frames.length === 1 ? this.#publishOne(entry, effect.frames[0]!) : this.#publish(entry, effect.frames));
      }
    }
    return true;
  }

  /** Outputs ComfyUI saved: copied ahead by results when it can, else asked for ahead. Returns how many are on their way. */
  #outputsAnnounced(entry: Entry, { promptId, backend, outputs }: { promptId: string; backend: string; outputs: OutputRef[] }): number {
    const { results, transport } = this.deps;
    const copying = entry.resultsReadied ? (results.copyAhead?.(entry.life.gen.id, promptId, outputs, (ref) => transport.fetchOutput(backend, ref)) ?? 0) : 0;
    return copying > 0 ? copying : (entry.prefetch ??= new OutputPrefetch(transport)).announce(backend, outputs);
  }

  #dropPrefetched(entry: Entry): void {
    entry.prefetch?.drop();
    entry.prefetch = null;
  }

  #readyResults(entry: Entry): void {
    entry.resultsReadied = true;
    try {
      this.deps.results.prepare?.(entry.life.gen.id);
    } catch (error) {
      entry.log.debug({ err: error }, 'could not ready the result folder ahead of the copy');
    }
  }

  /** The generation's queue waits for `work` (already started) before its next task; a failure is logged. */
  #track(entry: Entry, work: Promise<unknown>): void {
    const done: Promise<void> = work.then(
      () => {
        if (entry.chain === done) entry.chain = IDLE;
      },
      (error: unknown) => {
        if (entry.chain === done) entry.chain = IDLE;
        entry.log.error({ err: error }, 'could not publish the generation frames');
      },
    );
    entry.chain = done;
  }

  /** #publish of a single frame, without its async steps (the hot path's one frame per event). */
  #publishOne(entry: Entry, frame: RenderedFrame): Promise<unknown> {
    try {
      return this.deps.bus.publish<ClientFrame>(entry.topic, this.#clientFrame(entry, frame));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * #publishOne without a promise, on a bus that can take the frame so: one that publishes in the caller's
   * turn (publishNow), or one that fixes its place in the topic's order now (publishLater; not for a frame
   * that ends the generation, whose commit `settled` waits for). false when the bus cannot (then nothing done).
   */
  #handOver(entry: Entry, frame: RenderedFrame): boolean {
    const { bus } = this.deps;
    if (!bus.publishNow && !(bus.publishLater && !frame.ends)) return false;
    try {
      if (bus.publishNow) bus.publishNow<ClientFrame>(entry.topic, this.#clientFrame(entry, frame));
      else bus.publishLater!<ClientFrame>(entry.topic, this.#clientFrame(entry, frame));
    } catch (error) {
      entry.log.error({ err: error }, 'could not publish the generation frames');
    }
    return true;
  }

  #clientFrame(entry: Entry, frame: RenderedFrame): ClientFrame {
    // A literal, not `{ ...frame, active }`: V8 spreads an object of this size on its slow path.
    const { status, details, data, generationId, ends } = frame;
    // activeCount without its map lookup (a cache miss per frame on the fan-out bench): the client's set, which holds
    // the generation while it lives; once it no longer does, the set may have been replaced, so ask the map.
    const { ofClient } = entry;
    const active = ofClient.has(generationId) ? ofClient.size : this.activeCount(entry.life.gen.clientId);
    return { status, details, data, generationId, ends, active };
  }

  #feed(entry: Entry, event: GenerationEvent): Promise<void> {
    return this.#enqueue(entry, () => this.#step(entry, event));
  }

  /** Runs `task` after every task queued before it; a failing task is logged and does not stop the queue. */
  #enqueue(entry: Entry, task: () => Promise<void>): Promise<void> {
    const next: Promise<void> = entry.chain
      .then(() => (entry.released ? undefined : task()))
      .catch((error: unknown) => entry.log.error({ err: error }, 'generation task failed'))
      .then(() => {
        // Nothing was queued behind it: the next progress event may take the hot path.
        if (entry.chain === next) entry.chain = IDLE;
      });
    entry.chain = next;
    return next;
  }

  async #step(entry: Entry, event: GenerationEvent): Promise<void> {
    const before = entry.life.gen.promptId;
    const { life, effects } = apply(entry.life, event, { now: isoNow(), policy: this.deps.options, resultUrl: this.deps.resultUrl });
    // The end is recorded only by the generation's owner: its write carries the lease's check (#write), and
    // one that lost its lease lets the generation go there, so the effects after it (settle) do nothing.
    entry.life = life;
    if (life.gen.promptId !== before) entry.log = this.#childLog(life.gen);
    for (const effect of effects) await this.#perform(entry, effect);
  }

  async #perform(entry: Entry, effect: Effect): Promise<void> {
    if (entry.released) return;
    const { transport } = this.deps;
    const { gen } = entry.life;
    switch (effect.type) {
      case 'persist':
        return this.#persist(entry, effect.graph === true);
      case 'persist-soon':
        return this.#persistSoon(entry);
      case 'publish':
        return this.#publish(entry, effect.frames);
      case 'settle':
        return this.#settle(entry, effect.frames);
      case 'submit':
        return this.#submitted(entry, this.#send(entry), effect.after);
      case 'cancel': {
        const run = entry.run;
        if (!run || run.promptId !== gen.promptId) return;
        try {
          const outcome = await run.cancel();
          entry.log.info({ outcome }, 'interrupt requested');
        } catch (error) {
          entry.log.warn({ err: error }, 'interrupt could not reach the backend');
          entry.cancelError = error as BridgeError;
          return this.#step(entry, { type: 'interrupt-failed' });
        }
        return;
      }
      case 'copy-results': {
        const backend = gen.backend ?? '';
        try {
          const { prefetch } = entry;
          markLife('copy');
          const results = await this.deps.results.copy(gen.id, effect.outputs, (ref) => (prefetch ? prefetch.fetch(backend, ref) : transport.fetchOutput(backend, ref)), gen.promptId);
          markLife('copy: done');
          this.#dropPrefetched(entry);
          return this.#step(entry, { type: 'results-copied', promptId: gen.promptId, results });
        } catch (error) {
          this.#dropPrefetched(entry);
          entry.log.warn({ err: error }, 'copying results failed');
          return this.#step(entry, { type: 'copy-failed', promptId: gen.promptId, reason: `the generation ran, but its results could not be copied: ${messageOf(error)}` });
        }
      }
      case 'resubmit':
        return this.#resubmit(entry, effect.reason);
      default:
        return assertNever(effect);
    }
  }

  /** POST /prompt for the generation as it is now (the transport tracks the run first); its outcome is applied by #submitted. */
  #send(entry: Entry): Promise<PromptRun> {
    const { promptId, graph, backend } = entry.life.gen;
    const sending = this.deps.transport.submit({ promptId, graph, backend: backend ?? '', stuckAfterMs: this.deps.options.stuckAfterMs }, this.#listener(entry));
    // Awaited by #submitted, maybe after other tasks of the queue: no unhandled rejection meanwhile.
    sending.catch(() => undefined);
    return sending;
  }

  /** A submission's outcome, in the generation's queue: `submitted` with its position, or `submit-failed`. */
  async #submitted(entry: Entry, sending: Promise<PromptRun>, after: string | undefined): Promise<void> {
    const { promptId } = entry.life.gen;
    const backend = entry.life.gen.backend ?? '';
    try {
      entry.run = await sending;
      markLife('submitted: run');
    } catch (error) {
      let reason: string;
      if (after === undefined) {
        const failure = submitFailure(error, backend, entry.life.gen.id);
        entry.submitError = failure.rethrow;
        reason = failure.reason;
      } else {
        reason = `${after}; submitting it again failed: ${messageOf(error)}`;
      }
      entry.log.debug({ err: error }, 'submission failed');
      return this.#step(entry, { type: 'submit-failed', promptId, reason });
    }
    return this.#step(entry, { type: 'submitted', promptId, position: entry.run.position });
  }

  /** The backend forgot the prompt: place the inputs on a healthy backend again under a new prompt_id. */
  async #resubmit(entry: Entry, reason: string): Promise<void> {
    const { gen } = entry.life;
    const backend = this.deps.transport.pickBackend({ graph: gen.graph, workflow: gen.workflow });
    if (!backend) {
      return this.#step(entry, { type: 'resubmit-failed', promptId: gen.promptId, reason: `${reason}, and no ComfyUI backend is reachable to submit it again` });
    }
    const graph = cloneGraph(gen.graph);
    try {
      await placeInputs(this.deps, graph, gen.uploadInputs ?? {}, gen.shippedInputs ?? {}, backend);
    } catch (error) {
      return this.#step(entry, { type: 'resubmit-failed', promptId: gen.promptId, reason: `${reason}; its images could not be uploaded again: ${messageOf(error)}` });
    }
    entry.run = null;
    // Already admitted once: a resubmission skips the bridge queue, but counts on its new backend.
    this.#fair?.occupy(gen.id, backend);
    entry.log.warn({ reason, backend, attempt: gen.attempts + 1 }, 'backend lost the generation; submitting it again');
    return this.#step(entry, { type: 'resubmitted', promptId: newPromptId(), backend, graph, reason });
  }

  /**
   * Written now and awaited only where a promise hangs on it (docs/performance.md, "Which writes are
   * awaited"): the final state before the client hears of the end, the graph of a resubmission before
   * its prompt is submitted. `running` is written at once but behind its frame; the position is written
   * like progress, at most once per progressPersistMs (a generation that ends sooner writes it with its
   * end): a crash before they land leaves the row queued, which recovery reconciles with ComfyUI like
   * any unfinished row.
   */
  async #persist(entry: Entry, withGraph = false): Promise<void> {
    const { state } = entry.life.gen;
    if (withGraph || FINAL_STATES.has(state)) await this.#writeNow(entry, withGraph);
    // A new state (running) is written at once, though not awaited: each stored state is a step others
    // react to (webhook deliveries are derived from it, other instances read it); only percent and
    // position wait for the next tick.
    else if (state !== entry.writtenState) void this.#writeNow(entry);
    else this.#persistSoon(entry);
  }

  #writeNow(entry: Entry, withGraph = false): Promise<void> {
    if (entry.persistTimer) clearTimeout(entry.persistTimer);
    entry.persistTimer = null;
    entry.dirty = false;
    entry.lastPersistAt = Date.now();
    entry.writtenState = entry.life.gen.state;
    return entry.writer.request(withGraph);
  }

  /**
   * One write of the row as it is now (RowWriter calls it one at a time). Lazy unless a promise hangs on it
   * (#persist): an end, or a graph before its submission, is on the disk when it resolves; `running` and
   * progress are in the store's file (safe from a kill) and reach the disk with the end's sync or shortly
   * after, so the end does not wait for a sync of theirs.
   */
  async #write(entry: Entry, withGraph: boolean): Promise<void> {
    const { gen } = entry.life;
    const { generations, leases } = this.deps.storage;
    const final = FINAL_STATES.has(gen.state);
    markLife('row write:', gen.state);
    try {
      const patch = withGraph ? { ...changingFields(gen), graph: gen.graph } : (progressPatch(entry.stored, gen) ?? changingFields(gen));
      // The end is written only while this instance holds the lease, which the same statement renews (no
      // other instance can claim the row between the end's write and its announcement's frames).
      const written = await generations.write(gen.id, patch, final ? OWNED : withGraph ? undefined : LAZY);
      if (!written && final && Number.isFinite(leases.ttlMs)) {
        // Another instance claimed it (this one's lease ran out) and records its end: nothing more here.
        this.letGo(gen.id);
        return;
      }
      entry.stored = gen;
      markLife('row written:', gen.state);
    } catch (error) {
      entry.stored = undefined;
      entry.log.error({ err: error }, 'could not persist the generation');
    }
  }

  /** Changes no promise waits for: at most one write per progressPersistMs per generation (the first that long after its insert). */
  #persistSoon(entry: Entry): void {
    entry.dirty = true;
    if (entry.persistTimer || this.#closed) return;
    const delay = Math.max(0, entry.lastPersistAt + this.deps.options.progressPersistMs - Date.now());
    // The timer stays set (fired) until its write starts, so no second one is set meanwhile.
    const timer: NodeJS.Timeout = setTimeout(() => this.#dueWrites.add({ entry, timer }), delay);
    entry.persistTimer = timer.unref();
  }

  /** Throttled writes that came due, started a few per turn of the event loop (paced-writes.ts). */
  readonly #dueWrites = new PacedWrites<{ entry: Entry; timer: NodeJS.Timeout }>(({ entry, timer }) => {
    // Written meanwhile (a state change, the end, close), or let go: nothing due any more from this timer.
    if (entry.persistTimer !== timer) return;
    entry.persistTimer = null;
    // Not awaited: the row's writer keeps the order, the generation's queue need not wait for the disk.
    if (entry.dirty && !entry.released && !FINAL_STATES.has(entry.life.gen.state)) void this.#writeNow(entry);
  });

  /**
   * The client's frames the machine rendered for this change, published on its bus topic from the
   * generation's queue, so they keep its order. `active` counts after the change (an ended generation
   * is no longer live), which tells ws when a client has nothing left running.
   */
  async #publish(entry: Entry, frames: RenderedFrame[]): Promise<void> {
    const active = this.activeCount(entry.life.gen.clientId);
    const { bus } = this.deps;
    try {
      // A bus numbers one process's publishes of a topic in call order, so none waits for the one before.
      // Frames that end the generation are awaited (`settled` follows, and the lease keeper then marks the
      // end announced); the others, on a bus that can take them without a promise, are not waited for.
      if (bus.publishLater && !frames.some((frame) => frame.ends)) {
        for (const frame of frames) bus.publishLater<ClientFrame>(entry.topic, { ...frame, active });
        return;
      }
      await Promise.all(frames.map((frame) => bus.publish<ClientFrame>(entry.topic, { ...frame, active })));
    } catch (error) {
      entry.log.error({ err: error }, 'could not publish the generation frames');
    }
  }

  async #settle(entry: Entry, frames: RenderedFrame[]): Promise<void> {
    const { gen } = entry.life;
    if (entry.persistTimer) clearTimeout(entry.persistTimer);
    entry.persistTimer = null;
    this.#remove(gen);
    entry.run = null;
    this.#fair?.free(gen.id);
    // A folder readied for results it never got (failed, interrupted, nothing to copy) is removed.
    if (entry.resultsReadied) this.deps.results.discard?.(gen.id);
    this.#dropPrefetched(entry);
    if (gen.state === 'completed') entry.log.info({ files: gen.results.length }, 'generation completed');
    else if (gen.state === 'failed') entry.log.warn({ reason: gen.error }, 'generation failed');
    else entry.log.info({ reason: gen.error }, 'generation interrupted');
    await this.#publish(entry, frames);
    markLife('closed published');
    this.#call('settled', () => this.deps.hooks.settled.call(gen), entry);
  }

  // ── the registry ────────────────────────────────────────────────────────────

  #add(life: Life): Entry {
    const { id, clientId } = life.gen;
    let ofClient = this.#byClient.get(clientId);
    if (ofClient) ofClient.add(id);
    else this.#byClient.set(clientId, (ofClient = new Set([id])));
    const writer = new RowWriter((withGraph) => this.#write(entry, withGraph));
    const entry: Entry = { life, run: null, log: this.#childLog(life.gen), chain: Promise.resolve(), dirty: false, lastPersistAt: Date.now(), persistTimer: null, submitError: undefined, cancelError: undefined, topic: clientTopic(life.gen.clientId), released: false, writer, writtenState: life.gen.state, stored: life.gen, resultsReadied: false, prefetch: null, ofClient };
    this.#live.set(id, entry);
    return entry;
  }

  #remove(gen: Generation): void {
    this.#live.delete(gen.id);
    const ofClient = this.#byClient.get(gen.clientId);
    if (ofClient?.delete(gen.id) && ofClient.size === 0) this.#byClient.delete(gen.clientId);
  }

  #childLog(gen: Generation): Logger {
    return this.deps.log.child({ genId: gen.id, promptId: gen.promptId });
  }

  #markUploadsUsed(entry: Entry): void {
    const { uploads } = this.deps;
    if (!uploads) return;
    const { gen } = entry.life;
    for (const name of gen.uploads) {
      void uploads.markUsed(name, gen.id).catch((error: unknown) => entry.log.warn({ err: error, upload: name }, 'could not mark upload used'));
    }
  }

  /** A hook tap that throws is logged; it never stops a generation. */
  #call(hook: string, call: () => void, entry: Entry): void {
    try {
      call();
    } catch (error) {
      entry.log.error({ err: error, hook }, 'a generations hook tap threw');
    }
  }
}

/** Resolves in the next turn of the event loop (after the I/O and promise jobs of this one). */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Resolves in a process.nextTick queued now, i.e. after the ticks queued before it (a request's write). */
const nextTick = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve));

/** The options of a row write no promise waits for (#write). */
const LAZY = { lazy: true } as const;
/** The options of the end's write: only by the lease's holder (#write). */
const OWNED = { owned: true } as const;

/** A generation's queue with nothing in it (entry.chain): its next progress event may be applied at once. */
const IDLE: Promise<void> = Promise.resolve();

/** The transport events that may change only a generation's progress (Runner.#progressNow). */
const PROGRESS_EVENTS: ReadonlySet<TransportEvent['type']> = new Set(['started', 'cached', 'executing', 'progress', 'executed']);

let isoAt = 0;
let iso = '';
/** new Date().toISOString(), made once per millisecond: events come in bursts. */
function isoNow(): string {
  const now = Date.now();
  if (now !== isoAt) {
    isoAt = now;
    iso = new Date(now).toISOString();
  }
  return iso;
}

function assertNever(value: never): never {
  throw new Error(`unhandled effect ${JSON.stringify(value)}`);
}

/** Whether a generation has uploads or shipped files to place on its backend. */
function hasFiles(uploadInputs: Record<string, string>, shippedInputs: Record<string, string>): boolean {
  for (const _ in uploadInputs) return true;
  for (const _ in shippedInputs) return true;
  return false;
}
