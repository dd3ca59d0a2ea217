import type { ClientFrame } from '../../contracts/client-frame.js';
import { FINAL_STATES, type Generation, type GenerationState, type ResultFile } from '../../contracts/generation.js';
import type { GenerationFrame } from './api.js';
import type { Graph } from '../../contracts/graph.js';
import type { OutputRef, TransportEvent } from '../../contracts/transport.js';
import { encodeProgressData, type DataTemplate } from './frame-data-json.js';

/*
 * The state machine of one generation, pure: `apply(life, event)` returns the next life and the
 * effects the runner must perform (persist, submit, cancel, copy results, publish the client's
 * frames, rendered here). Nothing else changes a generation. queued → running → completed | failed
 * | interrupted; an event of a prompt that is no longer the generation's (a resubmission replaced
 * it), or one after its end, changes nothing, so every generation ends exactly once.
 */

/** A live generation and what the machine needs to know beside it. */
export interface Life {
  readonly gen: Generation;
  /**
   * submitting: its current prompt is being (re)submitted, the backend may not know it yet;
   * submitted: the transport follows it (cancel can reach it);
   * ending: the transport reported its end, the results are being copied;
   * held: recorded (backend null) and waiting in the bridge queue for a backend with room (fair-queue.ts).
   */
  readonly phase: 'submitting' | 'submitted' | 'ending' | 'held';
  /** The client asked to stop it. */
  readonly interruptRequested: boolean;
  /** What its last published frame showed ('' before the first): an unchanged progress is no frame. */
  readonly frameKey: string;
  /** The encoding template of its progress frames' data (frame-data-json.ts), once it has sent one. */
  readonly wire?: DataTemplate;
}

export type GenerationEvent =
  /** It was recorded: the client's first frame. */
  | { type: 'created' }
  /** The backend accepted the current prompt; position = prompts ahead of it (null when unknown). */
  | { type: 'submitted'; promptId: string; position: number | null }
  | { type: 'submit-failed'; promptId: string; reason: string }
  /** An event of its prompt, from its PromptRun. */
  | { type: 'transport'; event: TransportEvent }
  | { type: 'results-copied'; promptId: string; results: ResultFile[] }
  | { type: 'copy-failed'; promptId: string; reason: string }
  | { type: 'interrupt' }
  /** The cancel could not reach the backend: the request was refused, so it changed nothing. */
  | { type: 'interrupt-failed' }
  /** A lost generation got a new prompt on a backend (its inputs placed there again). */
  | { type: 'resubmitted'; promptId: string; backend: string; graph: Graph; reason: string }
  | { type: 'resubmit-failed'; promptId: string; reason: string }
  /** The bridge queue released a held generation to a backend (its inputs placed there): submit it. */
  | { type: 'released'; backend: string; graph: Graph };

export type Effect =
  /** Write the changing fields now (with the graph when it changed). */
  | { type: 'persist'; graph?: true }
  /** Progress only: write at most once per progressPersistMs. */
  | { type: 'persist-soon' }
  /** Publish these frames of the client's (the runner adds `active`; the bus numbers them). */
  | { type: 'publish'; frames: RenderedFrame[] }
  /** It ended: forget it, publish its last frames, call `settled`. */
  | { type: 'settle'; frames: RenderedFrame[] }
  /** Submit the current prompt; `after` is the reason of a resubmission. */
  | { type: 'submit'; after?: string }
  | { type: 'cancel' }
  | { type: 'copy-results'; outputs: OutputRef[] }
  /** Lost: pick a backend and place the inputs again, then `resubmitted` or `resubmit-failed`. */
  | { type: 'resubmit'; reason: string };

export interface Policy {
  onLost: 'resubmit' | 'fail';
  maxAttempts: number;
}

export type ResultUrl = (gen: Generation, file: string) => string;

/** What a step may read besides the life and the event: the time, the policy, and how result URLs look. */
export interface StepContext {
  now: string;
  policy: Policy;
  resultUrl: ResultUrl;
}

export interface Step {
  life: Life;
  effects: Effect[];
}

type ProgressEvent = Extract<TransportEvent, { type: 'started' | 'cached' | 'executing' | 'progress' | 'executed' }>;
type FailedEvent = Extract<TransportEvent, { type: 'failed' }>;

const unchanged = (life: Life): Step => ({ life, effects: [] });

export function apply(life: Life, event: GenerationEvent, context: StepContext): Step {
  const { gen } = life;
  const { now } = context;
  if (FINAL_STATES.has(gen.state)) return unchanged(life);
  switch (event.type) {
    case 'created':
      return announce({ life, effects: [] }, context);
    case 'interrupt':
      if (life.interruptRequested) return unchanged(life);
      // Never submitted: it ends here, nothing to cancel anywhere.
      if (life.phase === 'held') return end({ ...life, interruptRequested: true }, 'interrupted', 'interrupted on request', context);
      return { life: { ...life, interruptRequested: true }, effects: life.phase === 'submitted' ? [{ type: 'cancel' }] : [] };
    case 'interrupt-failed':
      return life.interruptRequested ? { life: { ...life, interruptRequested: false }, effects: [] } : unchanged(life);
    case 'submitted': {
      if (event.promptId !== gen.promptId || life.phase !== 'submitting') return unchanged(life);
      const next: Life = { ...life, phase: 'submitted', gen: { ...gen, position: event.position, updatedAt: now } };
      const step = announce({ life: next, effects: [{ type: 'persist' }] }, context);
      if (life.interruptRequested) step.effects.push({ type: 'cancel' });
      return step;
    }
    case 'submit-failed':
    case 'copy-failed':
    case 'resubmit-failed':
      if (event.promptId !== gen.promptId) return unchanged(life);
      return end(life, 'failed', event.reason, context);
    case 'results-copied':
      if (event.promptId !== gen.promptId) return unchanged(life);
      return completed(life, event.results, context);
    case 'resubmitted': {
      if (life.phase !== 'submitting') return unchanged(life);
      const next: Generation = {
        ...gen,
        promptId: event.promptId,
        backend: event.backend,
        graph: event.graph,
        attempts: gen.attempts + 1,
        state: 'queued',
        position: null,
        startedAt: null,
        // Back to the start; percent stays where it was (it never goes backwards).
        doneNodes: [],
        node: null,
        step: null,
        maxSteps: null,
        updatedAt: now,
      };
      // Always a frame, saying why it starts over: its client must not watch silence.
      const notice = { ...buildFrame(next, context.resultUrl), details: `backend lost, resubmitting: ${event.reason}` };
      return {
        life: { ...life, gen: next, frameKey: `${notice.status}|${notice.details}|${next.state}` },
        effects: [
          { type: 'persist', graph: true },
          { type: 'publish', frames: [{ ...notice, generationId: next.id, ends: false }] },
          { type: 'submit', after: event.reason },
        ],
      };
    }
    case 'released': {
      if (life.phase !== 'held') return unchanged(life);
      // The backend is written before the prompt is sent: a crash between the two is found again as
      // a submitted prompt (resumed or lost), never held and submitted a second time.
      const next: Generation = { ...gen, backend: event.backend, graph: event.graph, position: null, updatedAt: now };
      return { life: { ...life, phase: 'submitting', gen: next }, effects: [{ type: 'persist', graph: true }, { type: 'submit' }] };
    }
    case 'transport':
      return onTransport(life, event.event, context);
    default:
      return assertNever(event);
  }
}

/** apply(life, { type: 'transport', event }, context), without the event's wrapper: the runner's hot path, once per progress event. */
export function applyTransport(life: Life, event: TransportEvent, context: StepContext): Step {
  return FINAL_STATES.has(life.gen.state) ? unchanged(life) : onTransport(life, event, context);
}

function onTransport(life: Life, event: TransportEvent, context: StepContext): Step {
  const { gen } = life;
  const { policy } = context;
  if (event.promptId !== gen.promptId || life.phase === 'ending') return unchanged(life);
  switch (event.type) {
    case 'queued':
      return unchanged(life);
    case 'started':
    case 'cached':
    case 'executing':
    case 'progress':
    case 'executed':
      return onProgress(life, event, context);
    case 'completed':
      // Completed only once the results are copied: the client must never see a URL that 404s.
      return { life: { ...life, phase: 'ending' }, effects: [{ type: 'copy-results', outputs: event.outputs }] };
    case 'failed':
      return end(life, 'failed', describeRuntimeFailure(event), context, event.node);
    case 'interrupted':
      return end(life, 'interrupted', life.interruptRequested ? 'interrupted on request' : `interrupted on ComfyUI backend ${event.backend}`, context);
    case 'stuck':
      return end(life, 'failed', event.reason, context);
    case 'lost':
      if (policy.onLost === 'fail') return end(life, 'failed', event.reason, context);
      if (gen.attempts >= policy.maxAttempts) return end(life, 'failed', `${event.reason}; it was already submitted ${gen.attempts} time(s)`, context);
      return { life: { ...life, phase: 'submitting' }, effects: [{ type: 'resubmit', reason: event.reason }] };
    default:
      return assertNever(event);
  }
}

function onProgress(life: Life, event: ProgressEvent, context: StepContext): Step {
  const { now } = context;
  const before = life.gen;
  // One copy of the generation per change (objects are replaced, never edited once published); no
  // closures here: this runs for every progress event of every generation.
  const gen = copyGeneration(before);
  switch (event.type) {
    case 'started':
      break;
    case 'cached':
      for (const node of event.nodes) markDone(gen, node);
      break;
    case 'executing':
      moveTo(gen, event.node);
      break;
    case 'progress':
      moveTo(gen, event.node);
      gen.step = event.value;
      gen.maxSteps = event.max;
      break;
    case 'executed':
      markDone(gen, event.node);
      break;
    default:
      assertNever(event);
  }
  if (gen.state === 'queued') {
    gen.state = 'running';
    gen.startedAt ??= now;
  }
  // Percent never goes down, whatever the events say (a resubmission starts over without showing less).
  gen.percent = Math.max(gen.percent, computePercent(gen));
  if (gen.state !== before.state) {
    // A state change is persisted before anyone hears of it.
    gen.updatedAt = now;
    return announce({ life: { ...life, gen }, effects: [{ type: 'persist' }] }, context);
  }
  const moved = gen.percent !== before.percent || gen.node !== before.node || gen.step !== before.step || gen.doneNodes.length !== before.doneNodes.length;
  if (!moved) return unchanged(life);
  gen.updatedAt = now;
  // The same as announce() then persist-soon, with one new life instead of two, built as a literal
  // (a spread of lives from several places takes V8's slow path).
  const { frames, key } = clientFrames(gen, life.frameKey, context.resultUrl);
  // Its data encoded here, from a template, so the hub does not JSON-encode the frame again.
  const wire = frames.length === 1 ? encodeProgressData(gen, frames[0]!.data, life.wire) : life.wire;
  const next: Life = { gen, phase: life.phase, interruptRequested: life.interruptRequested, frameKey: key, wire };
  return { life: next, effects: frames.length === 0 ? [PERSIST_SOON] : [{ type: 'publish', frames }, PERSIST_SOON] };
}

/** The fields of a generation that a write stores, apart from the five progress moves (progressPatch). */
const STEADY_FIELDS = ['state', 'promptId', 'backend', 'startedAt', 'finishedAt', 'totalNodes', 'results', 'error', 'shippedInputs', 'attempts'] as const;

/**
 * What a write of `gen` needs to store when the row holds `stored` (the generation as its last write
 * stored it): only the fields progress moves (percent, node, step, max steps, nodes done, the position,
 * updatedAt), when nothing else changed since; undefined (write every changing field) otherwise.
 * Generation objects are replaced on change, never edited, so an unchanged field is the same value.
 */
export function progressPatch(stored: Generation | undefined, gen: Generation): Partial<Generation> | undefined {
  if (stored === undefined || stored.id !== gen.id) return undefined;
  for (const key of STEADY_FIELDS) if (stored[key] !== gen[key]) return undefined;
  const { position, percent, node, step, maxSteps, doneNodes, updatedAt } = gen;
  return { position, percent, node, step, maxSteps, doneNodes, updatedAt };
}

/** Effects are read, never changed: the one a progress event asks for is shared. */
const PERSIST_SOON: Effect = { type: 'persist-soon' };

/** Every field of a Generation, for copyGeneration's check that it copies them all. */
const GENERATION_FIELDS = 25;

/**
 * `{ ...gen }`, about 15× faster: V8 copies an object of this many fields by spread through its slow
 * path (~1 µs), a literal of a fixed shape it builds in ~60 ns. The literal is taken only when it copies
 * exactly what the spread would (both optional fields present, nothing else on the object).
 */
export function copyGeneration(g: Generation): Generation {
  if (g.uploadInputs === undefined || g.shippedInputs === undefined || Object.keys(g).length !== GENERATION_FIELDS) return { ...g };
  return {
    id: g.id,
    clientId: g.clientId,
    owner: g.owner,
    workflow: g.workflow,
    state: g.state,
    promptId: g.promptId,
    backend: g.backend,
    graph: g.graph,
    uploads: g.uploads,
    uploadInputs: g.uploadInputs,
    createdAt: g.createdAt,
    startedAt: g.startedAt,
    finishedAt: g.finishedAt,
    updatedAt: g.updatedAt,
    position: g.position,
    percent: g.percent,
    node: g.node,
    step: g.step,
    maxSteps: g.maxSteps,
    totalNodes: g.totalNodes,
    doneNodes: g.doneNodes,
    results: g.results,
    error: g.error,
    shippedInputs: g.shippedInputs,
    attempts: g.attempts,
  };
}

function markDone(gen: Generation, node: string): void {
  if (!gen.doneNodes.includes(node)) gen.doneNodes = [...gen.doneNodes, node];
}

/** The node that was executing has finished once ComfyUI moves on to another one. */
function moveTo(gen: Generation, node: string): void {
  if (gen.node === node) return;
  if (gen.node !== null) markDone(gen, gen.node);
  gen.node = node;
  gen.step = null;
  gen.maxSteps = null;
}

/** Adds the client's frames for the step's generation, when it shows something new. */
function announce(step: Step, context: StepContext): Step {
  const { frames, key } = clientFrames(step.life.gen, step.life.frameKey, context.resultUrl);
  if (frames.length === 0) return step;
  return { life: { ...step.life, frameKey: key }, effects: [...step.effects, { type: 'publish', frames }] };
}

/** The end: persisted, then forgotten with its last frames. */
function ended(life: Life, gen: Generation, context: StepContext): Step {
  const { frames, key } = clientFrames(gen, life.frameKey, context.resultUrl);
  return { life: { ...life, gen, frameKey: key }, effects: [{ type: 'persist' }, { type: 'settle', frames }] };
}

function completed(life: Life, results: ResultFile[], context: StepContext): Step {
  const { now } = context;
  const gen: Generation = {
    ...life.gen,
    results,
    state: 'completed',
    percent: 100,
    node: null,
    step: null,
    maxSteps: null,
    error: null,
    finishedAt: now,
    startedAt: life.gen.startedAt ?? now,
    updatedAt: now,
  };
  return ended(life, gen, context);
}

function end(life: Life, state: Extract<GenerationState, 'failed' | 'interrupted'>, reason: string, context: StepContext, node?: string | null): Step {
  const { now } = context;
  const gen: Generation = {
    ...life.gen,
    state,
    error: reason,
    step: null,
    maxSteps: null,
    finishedAt: now,
    updatedAt: now,
    node: node ?? life.gen.node,
  };
  return ended(life, gen, context);
}

/**
 * Overall completion in percent, two decimals, rounded down so 100 only shows when everything ran:
 * (nodes done + the current node's step fraction) / nodes that will run.
 */
export function computePercent(gen: Pick<Generation, 'doneNodes' | 'totalNodes' | 'node' | 'step' | 'maxSteps'>): number {
  if (gen.totalNodes <= 0) return 0;
  const done = Math.min(gen.doneNodes.length, gen.totalNodes);
  let fraction = 0;
  if (gen.node !== null && !gen.doneNodes.includes(gen.node) && gen.step !== null && gen.maxSteps !== null && gen.maxSteps > 0) {
    fraction = Math.min(Math.max(gen.step / gen.maxSteps, 0), 1);
  }
  const raw = (Math.min(done + fraction, gen.totalNodes) / gen.totalNodes) * 100;
  return Math.floor(raw * 100 + 1e-7) / 100;
}

/** "node 5 (FailingNode) raised RuntimeError: boom" — what a client reads in error_message. */
export function describeRuntimeFailure(event: Pick<FailedEvent, 'node' | 'nodeType' | 'exceptionType' | 'message'>): string {
  const where = event.node === null ? 'the workflow' : `node ${event.node}${event.nodeType ? ` (${event.nodeType})` : ''}`;
  const what = event.exceptionType ? `raised ${event.exceptionType}: ` : 'failed: ';
  return `${where} ${what}${event.message}`;
}

/** A new generation, recorded before its first submission. */
export function newGeneration(fields: {
  id: string;
  promptId: string;
  clientId: string;
  owner: string | null;
  workflow: string;
  /** null: held in the bridge queue, not submitted yet. */
  backend: string | null;
  graph: Graph;
  uploadInputs: Record<string, string>;
  shippedInputs: Record<string, string>;
  totalNodes: number;
  now: string;
}): Generation {
  const { now, ...rest } = fields;
  return {
    ...rest,
    state: 'queued',
    uploads: [...new Set(Object.values(fields.uploadInputs))],
    createdAt: now,
    startedAt: null,
    finishedAt: null,
    updatedAt: now,
    position: null,
    percent: 0,
    node: null,
    step: null,
    maxSteps: null,
    doneNodes: [],
    results: [],
    error: null,
    attempts: 1,
  };
}

/** The SPEC §2.1/§3 frame of a generation: what a websocket client or /execution-info sees. */
export function buildFrame(gen: Generation, resultUrl: ResultUrl): GenerationFrame {
  const done = gen.state === 'completed';
  const ended = gen.state === 'failed' || gen.state === 'interrupted';
  const data = frameData(gen, resultUrl, done, ended);
  if (done) return { status: 'closed', details: 'Execution is done', data };
  if (ended) return { status: 'error', details: data.error_message ?? describeEnd(gen), data };
  return { status: 'progress', details: progressDetails(gen), data };
}

/** A frame's `data` (SPEC §2.1): done = completed, ended = failed or interrupted. */
function frameData(gen: Generation, resultUrl: ResultUrl, done: boolean, ended: boolean) {
  return {
    id: gen.id,
    workflow: gen.workflow,
    state: gen.state,
    position: gen.position,
    percent: done ? 100 : gen.percent,
    node: gen.node,
    step: gen.step,
    max_steps: gen.maxSteps,
    result_urls: done ? gen.results.map((r) => resultUrl(gen, r.filename)) : NO_URLS,
    error_message: ended ? (gen.error ?? describeEnd(gen)) : null,
    queued_at: gen.createdAt,
    started_at: gen.startedAt,
    finished_at: gen.finishedAt,
  };
}

/** The result_urls of a generation not completed: one shared empty list (frames are never edited). */
const NO_URLS: string[] = Object.freeze([]) as unknown as string[];

/** A progress frame's details, `12.34%`: percent.toFixed(2), kept per hundredth (toFixed was ~1 % of the fan-out bench). */
function progressDetails(gen: Generation): string {
  return detailsText(detailsSlot(gen.percent), gen.percent);
}

/** The details string of `percent`, from its slot (detailsSlot). */
const detailsText = (slot: number, percent: number): string => (slot < 0 ? `${percent.toFixed(2)}%` : details[slot]!);

/**
 * Where `details` holds percent.toFixed(2) + '%' made from this very number (another number of the same
 * hundredth is made again), or -1 outside 0–100 (then made each time).
 */
function detailsSlot(percent: number): number {
  const slot = Math.round(percent * 100);
  if (!(slot >= 0 && slot <= 10_000)) return -1;
  if (detailsOf[slot] !== percent) {
    detailsOf[slot] = percent;
    details[slot] = `${percent.toFixed(2)}%`;
    runningKeys[slot] = undefined;
  }
  return slot;
}

/** progressDetails's strings by hundredth of a percent, and the number each was made from. */
const detailsOf = new Float64Array(10_001).fill(NaN);
const details: string[] = new Array<string>(10_001).fill('');
/**
 * clientFrames's key of a running generation's progress frame, `progress|12.34%|running`, beside its details
 * string (cleared when that is made again): the hot path compares two strings made before instead of
 * building one per event, which V8 also flattened to compare.
 */
const runningKeys: (string | undefined)[] = new Array<string | undefined>(10_001).fill(undefined);

function describeEnd(gen: Generation): string {
  return gen.state === 'interrupted' ? 'The generation was interrupted' : 'The generation failed';
}

/** A client frame before the bus numbers it and before `active` is known. */
export type RenderedFrame = Omit<ClientFrame, 'active'>;

/**
 * Every websocket frame a change of `gen` means, rendered completely (SPEC §2.1), and the key to
 * pass next time. `lastKey` is the key this function returned for the generation's previous
 * change ('' for none):
 * - a progress whose status, details and state did not change is no frame (storage writes such as
 *   the position change nothing a client sees);
 * - a completed generation always shows `100.00%` before its `closed`, even when it jumped there;
 * - a failed or interrupted one sends `error`, then a `closed` naming its state.
 */
export function clientFrames(gen: Generation, lastKey: string, resultUrl: ResultUrl): { frames: RenderedFrame[]; key: string } {
  if (!FINAL_STATES.has(gen.state)) {
    // buildFrame's progress frame, built only when it shows something new (the hot path: no frame
    // object beside the rendered one).
    const slot = detailsSlot(gen.percent);
    const text = detailsText(slot, gen.percent);
    const key = slot >= 0 && gen.state === 'running' ? (runningKeys[slot] ??= `progress|${text}|running`) : `progress|${text}|${gen.state}`;
    if (key === lastKey) return { frames: [], key };
    return { frames: [{ status: 'progress', details: text, data: frameData(gen, resultUrl, false, false), generationId: gen.id, ends: false }], key };
  }
  const frame = buildFrame(gen, resultUrl);
  const of = (f: GenerationFrame, ends: boolean): RenderedFrame => ({ ...f, generationId: gen.id, ends });
  const frames: RenderedFrame[] = [];
  if (gen.state === 'completed' && !lastKey.startsWith('progress|100.00%|')) {
    frames.push(of({ status: 'progress', details: '100.00%', data: { ...frame.data, percent: 100 } }, false));
  }
  if (frame.status === 'error') {
    frames.push(of(frame, false));
    frames.push(of({ status: 'closed', details: `Execution ended: ${gen.state}`, data: { id: gen.id, state: gen.state } }, true));
  } else {
    frames.push(of(frame, true));
  }
  return { frames, key: `ended|${gen.state}` };
}

function assertNever(value: never): never {
  throw new Error(`unhandled event ${JSON.stringify(value)}`);
}
