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
 * A clientId is bound to the first key that uses it; another key gets 404 so ids do not leak.
 */
export interface AccessControl {
  /** Binds clientId to principal on first use; throws BridgeError 404 if another key owns it (admins pass). */
  claimClient(clientId: string, principal: Principal): Promise<void>;
  /** Like claimClient for reads: throws 404 if another key owns clientId, but binds nothing. */
  checkClient(clientId: string, principal: Principal): Promise<void>;
}

declare module '../core/services.js' {
  interface ServiceMap {
    /** Who may use which clientId; provided by an authentication plugin (plugins/auth). */
    access: AccessControl;
  }
}
