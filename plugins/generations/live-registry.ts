import type { Transport } from '../../contracts/transport.js';
import type { LiveGeneration } from './live-generation.js';

/** The generations still queued or running, found by id, by prompt_id (transport events) and by client. */
export class LiveRegistry {
  readonly #byId = new Map<string, LiveGeneration>();
  readonly #byPrompt = new Map<string, LiveGeneration>();
  /** Live generations per clientId, so the per-client cap does not walk every live generation. */
  readonly #byClient = new Map<string, Set<LiveGeneration>>();

  constructor(private readonly transport: Pick<Transport, 'untrack'>) {}

  get(id: string): LiveGeneration | undefined {
    return this.#byId.get(id);
  }

  has(id: string): boolean {
    return this.#byId.has(id);
  }

  forPrompt(promptId: string): LiveGeneration | undefined {
    return this.#byPrompt.get(promptId);
  }

  all(): IterableIterator<LiveGeneration> {
    return this.#byId.values();
  }

  activeCount(clientId?: string): number {
    let count = 0;
    for (const live of clientId === undefined ? this.#byId.values() : (this.#byClient.get(clientId) ?? [])) if (!live.ended) count += 1;
    return count;
  }

  add(live: LiveGeneration): void {
    this.#byId.set(live.gen.id, live);
    this.#byPrompt.set(live.gen.promptId, live);
    const ofClient = this.#byClient.get(live.gen.clientId);
    if (ofClient) ofClient.add(live);
    else this.#byClient.set(live.gen.clientId, new Set([live]));
  }

  remove(live: LiveGeneration): void {
    this.#byId.delete(live.gen.id);
    if (this.#byPrompt.get(live.gen.promptId) === live) this.#byPrompt.delete(live.gen.promptId);
    const ofClient = this.#byClient.get(live.gen.clientId);
    if (ofClient?.delete(live) && ofClient.size === 0) this.#byClient.delete(live.gen.clientId);
    this.transport.untrack(live.gen.promptId);
  }

  /** Resubmission gave it a new prompt_id: events of the old one no longer reach it. */
  movePrompt(live: LiveGeneration, oldPromptId: string): void {
    this.#byPrompt.delete(oldPromptId);
    this.transport.untrack(oldPromptId);
    this.#byPrompt.set(live.gen.promptId, live);
  }
}
