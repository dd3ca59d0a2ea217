import type { Generation } from './generation.js';
import type { Graph } from './graph.js';
import type { Principal } from './auth.js';

/** A frame in the websocket shape of SPEC §2.1 (also the body of /execution-info). */
export interface GenerationFrame {
  status: 'progress' | 'closed' | 'error';
  details: string;
  data: Record<string, unknown>;
}

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

/**
 * Reading generations by id or client: what the generations service (plugins/generations/api.ts)
 * and the storage both answer, so a route can look a generation up through either.
 */
export interface GenerationLookup {
  get(id: string): Promise<Generation | undefined>;
  latestForClient(clientId: string): Promise<Generation | undefined>;
}
