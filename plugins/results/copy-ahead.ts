import type { BlobStore } from '../../contracts/blob-store.js';
import type { ResultFile } from '../../contracts/generation.js';
import type { OutputRef } from '../../contracts/transport.js';
import type { FetchOutput } from './api.js';
import { copyOne, distinct, fetchFirst, outputKey, safeFileName, uniqueName } from './store.js';

/** At most this many outputs of one generation are copied ahead of its end (the rest by the copy after it). */
const MAX_AHEAD = 4;

interface Ahead {
  /** The prompt run whose outputs these are (its prompt id: a resubmitted generation's next run has another). */
  run: string;
  /** The outputs copied, in the order announced (their keys, outputKey). */
  keys: string[];
  taken: Set<string>;
  /** Each output's copy, one after the other (the names are given in that order). */
  files: Promise<ResultFile>[];
  /** The last copy started: the next waits for it. */
  chain: Promise<unknown>;
}

/**
 * A generation's result files copied when ComfyUI announces them (`executed`: the node has saved them), into the
 * folder readied while the prompt runs, instead of after the run's end: the file's write and its syncs
 * (a new file's fdatasync commits ext4's journal: the costliest call of a generation's end, docs/performance.md
 * "A generation's end, wave 11") then run while ComfyUI finishes the prompt. Nothing is named by a row before
 * the run's end: the copy after it takes these files when the run's outputs are the ones copied (same prompt run,
 * same outputs in the same order, every copy whole), and otherwise waits for them and copies as it always did,
 * emptying the folder first. A generation that ends without a copy has its folder removed (`settled`, then the
 * caller's deletePrefix), these files with it.
 */
export class CopiesAhead {
  readonly #byId = new Map<string, Ahead>();
  /** Copies on their way, whoever's (the plugin's close waits for them). */
  readonly #running = new Set<Promise<unknown>>();

  constructor(private readonly blobs: BlobStore) {}

  /**
   * Outputs an `executed` frame announced for generation `id` in prompt run `run`, to copy under `prefix` once `ready`
   * (the folder readied by prepare; false: it could not be, and the copies fail). Returns how many of `outputs`
   * are copied ahead (started now or before; 0: none, the caller fetches them as before).
   */
  announce(id: string, prefix: string, run: string, outputs: readonly OutputRef[], fetch: FetchOutput, ready: Promise<boolean>): number {
    let ahead = this.#byId.get(id);
    if (ahead && ahead.run !== run) return 0;
    if (!ahead) {
      ahead = { run, keys: [], taken: new Set(), files: [], chain: Promise.resolve() };
      this.#byId.set(id, ahead);
    }
    let held = 0;
    for (const ref of distinct(outputs)) {
      const key = outputKey(ref);
      if (ahead.keys.includes(key)) {
        held += 1;
        continue;
      }
      if (ahead.keys.length >= MAX_AHEAD) break;
      const filename = uniqueName(safeFileName(ref.filename), ahead.taken);
      // Asked for now; written after the one before it (and after the folder is readied).
      const fetching = fetchFirst(fetch, ref);
      const emptied = ready.then((made) => {
        if (!made) throw new Error('the result folder could not be readied');
      });
      const file = ahead.chain.then(() => copyOne(this.blobs, prefix, ref, filename, fetching, emptied));
      const ended = file.catch(() => undefined);
      this.#running.add(ended);
      void ended.then(() => this.#running.delete(ended));
      ahead.keys.push(key);
      ahead.files.push(file);
      ahead.chain = ended;
      held += 1;
    }
    return held;
  }

  /**
   * The files copied ahead for `id`, when they are exactly the `outputs` of prompt run `run` and every copy
   * succeeded. Otherwise, once every copy ahead has ended: false when some were made (the caller copies anew and
   * empties the folder first), undefined when there were none. Either way `id` is forgotten.
   */
  async take(id: string, run: string, outputs: readonly OutputRef[]): Promise<ResultFile[] | false | undefined> {
    const ahead = this.#byId.get(id);
    if (!ahead) return undefined;
    this.#byId.delete(id);
    const wanted = distinct(outputs).map(outputKey);
    const same = ahead.run === run && wanted.length === ahead.keys.length && wanted.every((key, i) => key === ahead.keys[i]);
    if (!same) {
      await ahead.chain;
      return false;
    }
    try {
      return await Promise.all(ahead.files);
    } catch {
      await ahead.chain;
      return false;
    }
  }

  /** Forgets `id`; resolves once its copies ahead (if any) have ended, so that its folder can be removed after them. */
  async settled(id: string): Promise<void> {
    const ahead = this.#byId.get(id);
    this.#byId.delete(id);
    await ahead?.chain;
  }

  /** Resolves once no copy ahead is on its way. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running);
  }
}
