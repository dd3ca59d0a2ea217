import type { AuthRequest } from '../../contracts/auth.js';

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** Browsers cannot set headers on a websocket upgrade, so only there may the key ride in the query. */
const QUERY_KEY_PATHS = new Set(['/ws']);
const QUERY_KEY_NAMES = ['api_key', 'token'] as const;

const single = (value: string | string[] | undefined): string | undefined => (typeof value === 'string' ? value : undefined);

/** The API key a request presents: `Authorization: Bearer`, then `X-API-Key`, then (websocket only) the query. */
export function presentedKey(request: AuthRequest): string | undefined {
  const bearer = BEARER.exec(single(request.headers.authorization) ?? '');
  if (bearer) return bearer[1];
  const header = single(request.headers['x-api-key'])?.trim();
  if (header) return header;
  if (!QUERY_KEY_PATHS.has(request.path)) return undefined;
  for (const name of QUERY_KEY_NAMES) {
    const value = single(request.query[name])?.trim();
    if (value) return value;
  }
  return undefined;
}
