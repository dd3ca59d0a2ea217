import type { OutputRef, Transport } from '../../contracts/transport.js';

type Fetched = Awaited<ReturnType<Transport['fetchOutput']>>;

/** At most this many outputs of one generation are asked for ahead of its copy (the rest when it runs). */
const MAX_AHEAD = 4;

const keyOf = (backend: string, ref: OutputRef): string => JSON.stringify([backend, ref.node, ref.kind, ref.type, ref.subfolder, ref.filename]);

/**
 * A generation's output files asked for when ComfyUI announces them (`executed`: the node has saved them),
 * not after the run's end: GET /view is then on its way while ComfyUI finishes the prompt and the bridge
 * applies the end, and the copy takes the answer. Nothing is written before the run succeeded: a body
 * fetched ahead and not used (the run failed or was interrupted, or its outputs came from history under
 * other names) is closed unread when the generation ends (`drop`).
 */
export class OutputPrefetch {
  readonly #ahead = new Map<string, Promise<Fetched>>();

  constructor(private readonly transport: Pick<Transport, 'fetchOutput'>) {}

  /** Outputs an `executed` frame announced on `backend`: asked for now (up to MAX_AHEAD in all). Returns how many were asked for now. */
  announce(backend: string, outputs: readonly OutputRef[]): number {
    let asked = 0;
    for (const ref of outputs) {
      if (this.#ahead.size >= MAX_AHEAD) break;
      const key = keyOf(backend, ref);
      if (this.#ahead.has(key)) continue;
      let fetching: Promise<Fetched>;
      try {
        fetching = this.transport.fetchOutput(backend, ref);
      } catch {
        continue; // the copy asks again, and reports
      }
      // Taken by the copy, or dropped: never an unhandled rejection meanwhile.
      fetching.catch(() => undefined);
      this.#ahead.set(key, fetching);
      asked++;
    }
    return asked;
  }

  /** The output's body: the one asked for ahead when there is one (asked again if that failed), else asked for now. */
  fetch(backend: string, ref: OutputRef): Promise<Fetched> {
    const key = keyOf(backend, ref);
    const ahead = this.#ahead.get(key);
    if (!ahead) return this.transport.fetchOutput(backend, ref);
    this.#ahead.delete(key);
    return ahead.catch(() => this.transport.fetchOutput(backend, ref));
  }

  /** How many bodies are asked for and not taken. */
  get pending(): number {
    return this.#ahead.size;
  }

  /** Bodies asked for ahead and not taken: closed unread. */
  drop(): void {
    for (const ahead of this.#ahead.values()) {
      ahead.then(
        (fetched) => fetched.stream.destroy(),
        () => undefined,
      );
    }
    this.#ahead.clear();
  }
}
