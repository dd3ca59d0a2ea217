/**
 * clientId ↔ API key bindings as a store (contracts/storage.ts `clientBindings`): the auth plugin binds a
 * clientId to the key that first generates or uploads with it. On a store several instances share, the
 * store is the truth, so a binding made through one instance holds on every other at once, and two keys
 * racing for one clientId on two instances get one winner.
 */

/** One clientId bound to one API key (its id) until `expiresAt` (epoch ms). */
export interface ClientBinding {
  clientId: string;
  owner: string;
  expiresAt: number;
}

export interface ClientBindingStore {
  /**
   * Binds `binding.clientId` to `binding.owner` until `binding.expiresAt`, atomically, unless another owner
   * holds a live binding (expiresAt > now); a binding of the same owner is renewed (never shortened).
   * Returns the binding that holds afterwards: the caller's, or the other owner's (then nothing changed).
   */
  claim(binding: ClientBinding, now: number): Promise<ClientBinding>;
  /** The live binding of clientId (expiresAt > now), or undefined. */
  get(clientId: string, now: number): Promise<ClientBinding | undefined>;
  /** How many live bindings `owner` holds. */
  countLive(owner: string, now: number): Promise<number>;
  /** Deletes the bindings that ended at or before `now`; returns how many. */
  prune(now: number): Promise<number>;
}
