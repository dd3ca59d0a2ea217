import crypto from 'node:crypto';
import { BootError } from '../../core/errors.js';
import type { Principal } from '../../contracts/auth.js';
import type { KeySpec } from './options.js';

interface StoredKey {
  hash: Buffer;
  principal: Principal;
}

const sha256 = (text: string): Buffer => crypto.createHash('sha256').update(text, 'utf8').digest();

/**
 * The configured keys, held only as SHA-256 digests. Comparing fixed-length digests with
 * timingSafeEqual, and always against every key, keeps the answer time independent of how much of a
 * guess matched and of which key (if any) it matched.
 */
export class KeyRing {
  readonly #keys: StoredKey[];

  constructor(specs: readonly KeySpec[]) {
    const seenHashes = new Set<string>();
    const seenIds = new Set<string>();
    this.#keys = specs.map((spec, index) => {
      const hash = sha256(spec.key);
      const hex = hash.toString('hex');
      if (seenHashes.has(hex)) throw new BootError(`plugins.auth.keys entry #${index + 1} repeats an earlier key`);
      seenHashes.add(hex);
      // The id ends up in logs and in stored generations: never the key, only a short digest prefix.
      const id = spec.id ?? `key-${hex.slice(0, 12)}`;
      if (seenIds.has(id)) throw new BootError(`plugins.auth.keys entry #${index + 1} repeats the id "${id}"`);
      seenIds.add(id);
      // An admin key may also do everything a client key does.
      const scopes = spec.scopes.includes('admin') ? ['admin', 'client'] : [...spec.scopes];
      const principal: Principal = Object.freeze({ id, scopes: Object.freeze(scopes), anonymous: false });
      return { hash, principal };
    });
  }

  get size(): number {
    return this.#keys.length;
  }

  ids(): string[] {
    return this.#keys.map((key) => key.principal.id);
  }

  principals(): Principal[] {
    return this.#keys.map((key) => key.principal);
  }

  /** The principal of a presented key, or undefined when no configured key matches. */
  find(presented: string): Principal | undefined {
    const hash = sha256(presented);
    let found: Principal | undefined;
    for (const key of this.#keys) {
      // No early exit: every key is compared, whether or not one matched already.
      if (crypto.timingSafeEqual(key.hash, hash) && found === undefined) found = key.principal;
    }
    return found;
  }
}
