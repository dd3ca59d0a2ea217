/**
 * The origin rules of the cors plugin, apart from Koa so the HTTP answer and the websocket check
 * read the same list the same way.
 */
export class OriginPolicy {
  readonly #allowed: ReadonlySet<string>;

  constructor(origins: readonly string[]) {
    // Origins compare case-insensitively in scheme and host; browsers send them lower-cased.
    this.#allowed = new Set(origins.map((origin) => origin.toLowerCase()));
  }

  /** An allowlisted origin. `null` (sandboxed frames, file: pages, some redirects) never is. */
  allows(origin: string | undefined): origin is string {
    return origin !== undefined && origin !== 'null' && this.#allowed.has(origin.toLowerCase());
  }

  /**
   * Whether a websocket upgrade may proceed: no Origin (not a browser), the bridge's own origin
   * (its /docs or /playground page), or an allowlisted one.
   */
  allowsSocket(origin: string | undefined, host: string | undefined, publicUrl: string | null): boolean {
    if (origin === undefined) return true;
    if (this.allows(origin)) return true;
    return origin !== 'null' && sameOrigin(origin, host, publicUrl);
  }
}

function sameOrigin(origin: string, host: string | undefined, publicUrl: string | null): boolean {
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return false;
  }
  if (publicUrl !== null && new URL(publicUrl).origin === parsed.origin) return true;
  return host !== undefined && parsed.host === host.toLowerCase();
}
