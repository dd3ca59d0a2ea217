import { hasScope, type Principal } from '../core/http/principal.js';

export type { AuthRequest, Principal } from '../core/http/principal.js';
export { ANONYMOUS } from '../core/http/principal.js';

/** The scopes the auth plugin grants: client routes, and admin routes (an admin key may do both). */
export type Scope = 'client' | 'admin';

export const isAdmin = (p: Principal): boolean => hasScope(p, 'admin');

/** Whether a principal may see something owned by `owner` (null = created with auth off). */
export const canSee = (p: Principal, owner: string | null): boolean => isAdmin(p) || owner === null || owner === p.id;

/**
 * Provided by the auth plugin ("access" service). Without it every caller may use every clientId.
 * A clientId is bound to the key that generates or uploads with it; another key gets 404 so ids do
 * not leak. Reading and watching never bind.
 */
export interface AccessControl {
  /**
   * For generating and uploading only: binds clientId to principal (or renews the binding); throws
   * BridgeError 404 if another key holds it, 429 if the key holds too many (admins pass).
   */
  claimClient(clientId: string, principal: Principal): Promise<void>;
  /** For reads, sockets and interrupts: throws 404 if another key holds clientId, but binds nothing. */
  checkClient(clientId: string, principal: Principal): Promise<void>;
  /** Synchronous checkClient after one checkClient has run: false if another key holds clientId. */
  mayWatch?(clientId: string, principal: Principal): boolean;
  /** Called when clientId becomes bound to `owner`: whoever watches it under another key must stop. */
  onBind?(listener: (clientId: string, owner: string) => void): () => void;
}

declare module '../core/services.js' {
  interface ServiceMap {
    /** Who may use which clientId; provided by an authentication plugin (plugins/auth). */
    access: AccessControl;
  }
}
