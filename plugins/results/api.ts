import type { ResultFile } from '../../contracts/generation.js';
import type { FetchedOutput, OutputRef } from '../../contracts/transport.js';

/** Opens one output on the backend (the transport's fetchOutput, bound to the generation's backend). */
export type FetchOutput = (ref: OutputRef) => Promise<FetchedOutput>;

/**
 * Provided by plugins/results: the one owner of the result files — where they live
 * (`<dataDir>/results/<generation id>/<file>`), their names, types and public URLs, copying them
 * in and deleting them. generations copies through it, history and frames ask it for URLs, and
 * GET /results serves from it.
 */
export interface ResultStore {
  /**
   * Copies every output into the generation's folder (emptied first, so a copy repeated after a
   * restart starts clean): names made safe and unique, SHA-256 and type recorded. Throws a readable
   * message naming the output that could not be copied; the folder is then removed. `run`: the prompt id of the
   * run that made them; files copied ahead in that run (`copyAhead`) are taken when they are these outputs.
   */
  copy(generationId: string, outputs: readonly OutputRef[], fetch: FetchOutput, run?: string): Promise<ResultFile[]>;
  /**
   * Optional: outputs ComfyUI announced saved (`executed`) in prompt run `run` (its prompt id) copied now, into the folder `prepare` readied, while the
   * prompt finishes: `copy` then takes them (no row names them before it). Returns how many of `outputs` are copied
   * ahead (started now or before; 0: none, the caller fetches them as before). A generation that ends without a copy
   * must be `discard`ed (its folder is removed once these copies have ended).
   */
  copyAhead?(generationId: string, run: string, outputs: readonly OutputRef[], fetch: FetchOutput): number;
  /**
   * Optional: readies the generation's (empty) folder ahead of its copy, while ComfyUI runs the prompt, so the
   * copy after the run's end does not make it (the directory store: one mkdir, the costliest file call of a
   * generation's end). The copy then uses it; a generation that ends without one must be `discard`ed.
   */
  prepare?(generationId: string): void;
  /**
   * Optional: the generation ended without a copy (failed, interrupted) after `prepare`: its folder is removed.
   * `keep`: another instance follows it now; the folder is left to it (its copy empties it anyway).
   */
  discard?(generationId: string, keep?: boolean): void;
  /**
   * Optional: resolves once the files lost since their rows were written are restored from the results logs read at
   * start (GET /results waits for it): a reader of path() waits for it first.
   */
  restored?(): Promise<void>;
  /** Absolute path of a result file; a name the bridge did not make (or a malformed id) is 404. */
  path(generationId: string, filename: string): string;
  /** Public URL of a result file (server.publicUrl, else the address the server listens on). */
  url(generationId: string, filename: string): string;
  /** Deletes a generation's files (nothing to delete is fine). */
  remove(generationId: string): Promise<void>;
  /** The type a file is served (and uploaded) with: the declared one unless generic or active, else its extension's. */
  contentTypeFor(filename: string, declared?: string | null): string;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    /** The result files (plugins/results). */
    results: ResultStore;
  }
}
