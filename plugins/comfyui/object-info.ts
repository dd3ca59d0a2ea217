import type { BackendConnection } from './backend-connection.js';
import { isObject } from './protocol.js';

/** A node class's /object_info, from the first backend that knows it, cached once found. */
export class ObjectInfoCache {
  readonly #cache = new Map<string, Record<string, unknown>>();

  async get(backends: readonly BackendConnection[], classType: string): Promise<Record<string, unknown> | undefined> {
    const cached = this.#cache.get(classType);
    if (cached) return cached;
    for (const backend of backends) {
      if (!backend.up) continue;
      try {
        const res = await backend.http.json('GET', `/object_info/${encodeURIComponent(classType)}`);
        const info = isObject(res.body) ? res.body[classType] : undefined;
        if (res.status === 200 && isObject(info)) {
          this.#cache.set(classType, info);
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
