import { randomUUID } from 'node:crypto';
import { FINAL_STATES, type Generation } from '../../contracts/generation.js';
import type { GenerationStore, LeaseStore } from '../../contracts/storage.js';

/**
 * Leases for a store only one process opens at a time (the data dir lock sees to it): this process
 * owns everything. What an earlier run left unfinished (read once the datafiles are loaded, before
 * any insert of this process can land) is handed out once, to the first claim; renewing always
 * keeps every lease and releasing changes nothing.
 */
export class NedbLeaseStore implements LeaseStore {
  readonly instance = randomUUID();
  readonly ttlMs = Number.POSITIVE_INFINITY;
  #handedOut = false;

  constructor(
    private readonly generations: GenerationStore,
    private readonly orphans: Promise<string[]>,
  ) {}

  renew(ids: string[]): Promise<string[]> {
    return Promise.resolve([...ids]);
  }

  async claimExpired(limit: number): Promise<Generation[]> {
    if (this.#handedOut) return [];
    this.#handedOut = true;
    const claimed: Generation[] = [];
    for (const id of await this.orphans) {
      if (claimed.length >= limit) break;
      const gen = await this.generations.get(id);
      if (gen && !FINAL_STATES.has(gen.state)) claimed.push(gen);
    }
    return claimed;
  }

  /** Nothing to hand over: no other process can announce an end here (and the in-process bus keeps no frames across a restart). */
  announced(_ids: string[]): Promise<void> {
    return Promise.resolve();
  }

  release(_ids: string[]): Promise<void> {
    return Promise.resolve();
  }
}
