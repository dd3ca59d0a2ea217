import type { Logger } from 'pino';
import type { BackendHttp } from './http-client.js';
import { queuePlace } from './protocol.js';

/** More than this many forgotten ids on one backend: the oldest are dropped (a bound, not a policy). */
const MAX_ABANDONED = 10_000;

/**
 * Prompts the bridge gave up on while their backend could not be asked (moved to another backend,
 * reported lost, or a submission whose answer never came): the backend may still hold them. When it
 * answers again they are deleted from its queue before anything else (and interrupted if one started
 * meanwhile), so nothing the bridge resubmitted elsewhere runs twice.
 */
export class AbandonedPrompts {
  readonly #ids = new Set<string>();

  get size(): number {
    return this.#ids.size;
  }

  add(promptId: string): void {
    this.#ids.add(promptId);
    if (this.#ids.size > MAX_ABANDONED) this.#ids.delete(this.#ids.values().next().value as string);
  }

  has(promptId: string): boolean {
    return this.#ids.has(promptId);
  }

  /** POST /queue {delete} for all of them, then a targeted interrupt for any found running. Kept on failure, for the next connect. */
  async purge(http: BackendHttp, log: Logger, backend: string): Promise<void> {
    const ids = [...this.#ids];
    if (ids.length === 0) return;
    try {
      const deleted = await http.json('POST', '/queue', { delete: ids });
      if (deleted.status !== 200) throw new Error(`POST /queue answered HTTP ${deleted.status}`);
      const queue = await http.json('GET', '/queue');
      if (queue.status === 200) {
        for (const id of ids) {
          if (queuePlace(queue.body, id) === 'running') await http.json('POST', '/interrupt', { prompt_id: id });
        }
      }
      for (const id of ids) this.#ids.delete(id);
      log.info({ backend, prompts: ids.length }, 'deleted prompts moved away from this ComfyUI backend while it was down');
    } catch (error) {
      log.warn({ err: error, backend }, 'could not delete the prompts moved away from this backend; trying again on the next connect');
    }
  }
}
