/**
 * Who is calling, as the kernel sees it: an id and the scopes an authentication strategy granted.
 * The kernel attaches no meaning to scope names; a route names the scope it needs and the kernel
 * checks the caller has it. `*` grants every scope (the caller when no strategy is loaded).
 */
export interface Principal {
  readonly id: string;
  readonly scopes: readonly string[];
  /** No strategy identified the caller (authentication off, or a public route). */
  readonly anonymous: boolean;
}

/** What an authentication strategy sees: the same for HTTP requests and websocket upgrades. */
export interface AuthRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  query: Record<string, string | string[] | undefined>;
}

/** The caller when no strategy answers: authentication is off, so it may do everything. */
export const ANONYMOUS: Principal = Object.freeze({ id: 'anonymous', scopes: Object.freeze(['*']), anonymous: true });

/** Callers of public routes are not authenticated at all. */
export const PUBLIC: Principal = Object.freeze({ id: 'public', scopes: Object.freeze([]), anonymous: true });

export const hasScope = (principal: Principal, scope: string): boolean => principal.scopes.includes(scope) || principal.scopes.includes('*');
