import type { Generation } from '../../contracts/generation.js';
import type { Graph } from '../../contracts/graph.js';
import type { Principal } from '../../contracts/auth.js';

/** A frame in the websocket shape of SPEC §2.1 (also the body of /execution-info). */
export interface GenerationFrame {
  status: 'progress' | 'closed' | 'error';
  details: string;
  data: Record<string, unknown>;
}

export type GenerationChange = 'created' | 'updated' | 'finished';

export interface CreateGeneration {
  workflow: string;
  clientId: string;
  principal: Principal;
  graph: Graph;
  /** Graph input values that name stored uploads: "<node>/<input>" → upload name. */
  uploads: Record<string, string>;
  /** Image inputs that use a file the workflow ships: "<node>/<input>" → absolute path (put on the backend too). */
  shippedFiles?: Record<string, string>;
}

/** Provided by plugins/generations: the life of every generation, from submit to its end. */
export interface GenerationService {
  /** Records, submits and starts tracking a generation; resolves once the backend accepted it. */
  create(request: CreateGeneration): Promise<Generation>;
  get(id: string): Promise<Generation | undefined>;
  latestForClient(clientId: string): Promise<Generation | undefined>;
  /** Cancels it on its backend (queued → removed, running → targeted interrupt). */
  interrupt(id: string): Promise<Generation>;
  /** Resolves with the generation when it ends, or undefined after timeoutMs. */
  waitForEnd(id: string, timeoutMs: number): Promise<Generation | undefined>;
  /** Every change to any generation, after it was persisted. Returns an unsubscribe function. */
  onChange(listener: (gen: Generation, change: GenerationChange) => void): () => void;
  /** The websocket/execution-info frame for a generation's current state. */
  frame(gen: Generation): GenerationFrame;
  /** Public URL of a result file. */
  resultUrl(gen: Generation, filename: string): string;
  /** Absolute path of a result file in the result store. */
  resultPath(gen: Generation, filename: string): string;
  /** Count of the client's generations still queued or running (all clients' without an argument). */
  activeCount(clientId?: string): number;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    /** The life of every generation (plugins/generations). */
    generations: GenerationService;
  }
}
