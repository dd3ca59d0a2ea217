import type { BackendConnection } from './backend-connection.js';
import type { CapabilityStore } from './capability-store.js';

/**
 * Transport.capabilityGeneration: a number that moves whenever `fit`, `modelFiles` or what the
 * capabilities primed into `objectInfo` may answer differently — the capabilities were read again,
 * or a backend went up or down (or reconnected in between). Checked when asked rather than pushed:
 * one comparison per backend, no allocation, so a read route can ask on every request.
 */
export class CapabilityGeneration {
  #generation = 0;
  #seenVersion = -1;
  /** Per backend: its socket number while up, minus it while down (a reconnect between two asks still moves it). */
  readonly #seenLinks: number[] = [];

  constructor(
    private readonly backends: readonly BackendConnection[],
    private readonly caps: CapabilityStore,
  ) {}

  current(): number {
    let moved = this.caps.version !== this.#seenVersion;
    this.#seenVersion = this.caps.version;
    for (let i = 0; i < this.backends.length; i++) {
      const backend = this.backends[i]!;
      const link = backend.up ? backend.socketSeq : -backend.socketSeq;
      if (this.#seenLinks[i] !== link) {
        this.#seenLinks[i] = link;
        moved = true;
      }
    }
    if (moved) this.#generation += 1;
    return this.#generation;
  }
}
