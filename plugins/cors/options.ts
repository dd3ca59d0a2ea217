import { Type, type Static } from '@sinclair/typebox';

/** scheme://host[:port] with nothing after it: `*`, `null`, paths and trailing slashes are refused at start. */
const ORIGIN_PATTERN = '^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^https?://\\[[0-9A-Fa-f:.]+\\](:[0-9]{1,5})?$';
const HEADER_NAME = Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" });

export const optionsSchema = Type.Object(
  {
    /** Exact origins (scheme://host[:port]) whose pages may call the API and open its websocket. */
    origins: Type.Array(Type.String({ pattern: ORIGIN_PATTERN }), {
      uniqueItems: true,
      default: [],
      description: 'Exact origins allowed (scheme://host:port), e.g. ["https://app.example.com"]. No wildcard; `null` is never allowed.',
    }),
    /** The origin is always echoed, never `*`. */
    credentials: Type.Boolean({ default: false, description: 'Send Access-Control-Allow-Credentials: true (cookies, HTTP auth).' }),
    maxAgeSeconds: Type.Integer({ minimum: 0, maximum: 86_400, default: 600, description: 'Access-Control-Max-Age of preflight answers.' }),
    allowHeaders: Type.Array(HEADER_NAME, {
      default: ['Authorization', 'X-API-Key', 'Content-Type', 'X-Request-Id', 'Range', 'If-None-Match', 'If-Modified-Since', 'If-Range'],
      description: 'Request headers a page may send (Access-Control-Allow-Headers).',
    }),
    /** Beside the CORS-safelisted ones. */
    exposeHeaders: Type.Array(HEADER_NAME, {
      default: ['X-Request-Id', 'Retry-After', 'ETag', 'Content-Range', 'Accept-Ranges', 'Content-Length', 'WWW-Authenticate'],
      description: 'Response headers a page may read (Access-Control-Expose-Headers).',
    }),
  },
  { additionalProperties: false },
);

export type CorsOptions = Static<typeof optionsSchema>;
