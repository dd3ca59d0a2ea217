import { AsyncSeriesWaterfallHook, SyncHook } from 'tapable';
import type { Principal } from '../../contracts/auth.js';
import type { Generation } from '../../contracts/generation.js';
import type { GenerationReader } from '../../contracts/visible-generation.js';
import type { Graph } from '../../contracts/graph.js';

/** A frame in the websocket shape of SPEC §2.1 (also the body of /execution-info). */
export interface GenerationFrame {
  status: 'progress' | 'closed' | 'error';
  details: string;
  data: Record<string, unknown>;
}

export interface CreateGeneration {
  /**
   * The id to record it under (the shape of GENERATION_ID), minted by the caller when it must know
   * the id before the generation exists (an Idempotency-Key claim); a fresh one when omitted.
   */
  id?: string;
  workflow: string;
  clientId: string;
  principal: Principal;
  graph: Graph;
  /** Graph input values that name stored uploads: "<node>/<input>" → upload name. */
  uploads: Record<string, string>;
  /** Image inputs that use a file the workflow ships: "<node>/<input>" → absolute path (put on the backend too). */
  shippedFiles?: Record<string, string>;
}

/** What beforeSubmit taps see next to the graph. */
export interface SubmitInfo {
  generationId: string;
  workflow: string;
  clientId: string;
  principal: Principal;
  backend: string;
}

/**
 * The hooks of the generations service: the object that does the work owns them (webpack's
 * `Compilation.hooks`). Every tap names its plugin: `generations.hooks.settled.tap('metrics', fn)`.
 * Taps run inside the generation's own queue: keep them quick, and never call back into the service there.
 */
export function createGenerationHooks() {
  return Object.freeze({
    /** Each tap may rewrite the graph (seeds, filename prefixes, model paths) and returns it. For integrators. */
    beforeSubmit: new AsyncSeriesWaterfallHook<[Graph, SubmitInfo]>(['graph', 'info']),
    /** A generation was recorded (before it is submitted). */
    created: new SyncHook<[Generation]>(['generation']),
    /** A generation ended (completed, failed or interrupted), after it was persisted. */
    settled: new SyncHook<[Generation]>(['generation']),
  });
}

export type GenerationHooks = ReturnType<typeof createGenerationHooks>;

/**
 * Provided by plugins/generations: the life of every generation, from submit to its end. Live
 * changes are not a listener here: each client's frames are published on the bus (contracts/bus.ts,
 * topic `client:<clientId>`, payload contracts/client-frame.ts), and the hooks above mark a
 * generation's start and end.
 */
export interface GenerationService extends GenerationReader {
  readonly hooks: GenerationHooks;
  /** Records, submits and follows a generation; resolves once the backend accepted it. */
  create(request: CreateGeneration): Promise<Generation>;
  /** Cancels it on its backend (queued → removed, running → targeted interrupt). */
  interrupt(id: string): Promise<Generation>;
  /** Resolves with the generation when it ends, or undefined after timeoutMs. */
  waitForEnd(id: string, timeoutMs: number): Promise<Generation | undefined>;
  /** The websocket/execution-info frame for a generation's current state. */
  frame(gen: Generation): GenerationFrame;
  /** Count of the client's generations still queued or running (all clients' without an argument). */
  activeCount(clientId?: string): number;
  /** Generations this process holds in its bridge queue now (0 when fair share is off). For /metrics. */
  heldCount(): number;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    /** The life of every generation (plugins/generations). */
    generations: GenerationService;
  }
}
