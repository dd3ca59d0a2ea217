import type { JsonSchema } from '../../core/plugin.js';

export interface CorsOptions {
  /** Exact origins (scheme://host[:port]) whose pages may call the API and open its websocket. */
  origins: string[];
  /** Allow cookies / HTTP auth to be sent (Access-Control-Allow-Credentials). The origin is always echoed, never `*`. */
  credentials: boolean;
  /** How long a browser may cache a preflight answer, in seconds. */
  maxAgeSeconds: number;
  /** Request headers a page may send. */
  allowHeaders: string[];
  /** Response headers a page may read beside the CORS-safelisted ones. */
  exposeHeaders: string[];
}

/** scheme://host[:port] with nothing after it: `*`, `null`, paths and trailing slashes are refused at start. */
const ORIGIN_PATTERN = '^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^https?://\\[[0-9A-Fa-f:.]+\\](:[0-9]{1,5})?$';
const HEADER_NAME = { type: 'string', pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" };

export const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    origins: {
      type: 'array',
      items: { type: 'string', pattern: ORIGIN_PATTERN },
      uniqueItems: true,
      default: [],
      description: 'Exact origins allowed (scheme://host:port), e.g. ["https://app.example.com"]. No wildcard; `null` is never allowed.',
    },
    credentials: { type: 'boolean', default: false, description: 'Send Access-Control-Allow-Credentials: true (cookies, HTTP auth).' },
    maxAgeSeconds: { type: 'integer', minimum: 0, maximum: 86_400, default: 600, description: 'Access-Control-Max-Age of preflight answers.' },
    allowHeaders: {
      type: 'array',
      items: HEADER_NAME,
      default: ['Authorization', 'X-API-Key', 'Content-Type', 'X-Request-Id', 'Range', 'If-None-Match', 'If-Modified-Since', 'If-Range'],
      description: 'Request headers a page may send (Access-Control-Allow-Headers).',
    },
    exposeHeaders: {
      type: 'array',
      items: HEADER_NAME,
      default: ['X-Request-Id', 'Retry-After', 'ETag', 'Content-Range', 'Accept-Ranges', 'Content-Length', 'WWW-Authenticate'],
      description: 'Response headers a page may read (Access-Control-Expose-Headers).',
    },
  },
};
