import type { BackendConnection } from './backend-connection.js';
import { isObject } from './protocol.js';
import { within } from '../../lib/within.js';

type Info = Record<string, unknown>;

/**
 * The one /object_info cache of the bridge: a node class's definition from the first backend that
 * knows it, kept for `ttlMs` (a backend may gain custom nodes). Concurrent asks for one class share
 * one request; a caller's `timeoutMs` bounds its own wait without cancelling the shared request.
 * A class nobody could answer for is not cached: a backend that was down may answer next time.
 */
export class ObjectInfoCache {
  readonly #cache = new Map<string, { info: Info; at: number }>();
  readonly #asking = new Map<string, Promise<Info | undefined>>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Fills the cache from a whole /object_info read elsewhere (capabilities), saving per-class asks. */
  prime(all: Record<string, unknown>): void {
    const at = this.now();
    for (const [classType, info] of Object.entries(all)) if (isObject(info)) this.#cache.set(classType, { info, at });
  }

  get(backends: readonly BackendConnection[], classType: string, timeoutMs?: number): Promise<Info | undefined> {
    const cached = this.#cache.get(classType);
    if (cached && this.now() - cached.at < this.ttlMs) return Promise.resolve(cached.info);
    let asking = this.#asking.get(classType);
    if (!asking) {
      asking = this.#ask(backends, classType).finally(() => this.#asking.delete(classType));
      this.#asking.set(classType, asking);
    }
    return timeoutMs === undefined ? asking : within(asking, timeoutMs);
  }

  async #ask(backends: readonly BackendConnection[], classType: string): Promise<Info | undefined> {
    for (const backend of backends) {
      if (!backend.up) continue;
      try {
        const res = await backend.http.json('GET', `/object_info/${encodeURIComponent(classType)}`);
        const info = isObject(res.body) ? res.body[classType] : undefined;
        if (res.status === 200 && isObject(info)) {
          this.#cache.set(classType, { info, at: this.now() });
          return info;
        }
        // An unknown class answers {}; another backend may have the custom node.
      } catch (error) {
        backend.lastError = (error as Error).message;
      }
    }
    return undefined;
  }
}
