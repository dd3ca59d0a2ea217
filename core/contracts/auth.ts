export type Scope = 'client' | 'admin';

/** Who is calling. With auth off every caller is the anonymous admin. */
export interface Principal {
  id: string;
  scopes: Scope[];
  anonymous: boolean;
}

export const ANONYMOUS: Principal = Object.freeze({ id: 'anonymous', scopes: ['client', 'admin'] as Scope[], anonymous: true });

/** What an authentication strategy sees: the same for HTTP requests and websocket upgrades. */
export interface AuthRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  query: Record<string, string | string[] | undefined>;
}

export const isAdmin = (p: Principal): boolean => p.scopes.includes('admin');

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
