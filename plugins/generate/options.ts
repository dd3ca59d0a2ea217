import { Type, type Static } from '@sinclair/typebox';
import { RETRY_AFTER_SECONDS } from '../../contracts/transport.js';
import { quotaSchema, type QuotaOptions } from './quota-options.js';

const int = (minimum: number, maximum: number, def: number, description: string) => Type.Integer({ minimum, maximum, default: def, description });

/** Image inputs given as a data: URL or an http(s) URL instead of a stored upload name. */
const imageInputs = Type.Object(
  {
    dataUrls: Type.Boolean({ default: true, description: 'Accept data:image/...;base64,... values (bounded by maxBytes and the server body limit).' }),
    /** Off unless allowHosts names hosts. */
    urls: Type.Boolean({ default: false, description: 'Accept http(s) URLs the bridge fetches (hosts in allowHosts only).' }),
    allowHosts: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'Hosts image URLs may name: "images.example.com", "*.example.com", or "*".' }),
    /** Never on a bridge that faces the internet. */
    allowPrivateAddresses: Type.Boolean({
      default: false,
      description: 'Let image URLs reach loopback, private, link-local and metadata addresses (refused otherwise, after DNS, on the connection itself).',
    }),
    /** The upload plugin's maxFileBytes applies too. */
    maxBytes: int(1, 1_073_741_824, 20_971_520, 'Largest image fetched or decoded, in bytes.'),
    timeoutMs: int(1, 600_000, 10_000, 'Longest fetch of one image URL.'),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'Image inputs given as a data: URL or an http(s) URL; each is checked and stored exactly like an upload (docs/integrations.md).',
  },
);

export const optionsSchema = Type.Object(
  {
    maxActivePerClient: int(1, 10_000, 10, 'Generations one clientId may have queued or running at once (per-client fairness); more → 429.'),
    maxActive: int(1, 1_000_000, 1000, 'Generations the whole bridge may have queued or running at once (the queue bound); more → 429.'),
    waitTimeoutMs: int(1, 3_600_000, 300_000, 'Longest `wait: true` hold; after it the answer is 202 with the queued body.'),
    retryAfterSeconds: int(1, 3600, RETRY_AFTER_SECONDS, "Retry-After of a 429 (defaults to the bridge's one Retry-After policy)."),
    /** Per-API-key quotas (max active, per minute, per day); none unless configured. */
    quotas: Type.Optional(Type.Unsafe<QuotaOptions>(quotaSchema)),
    imageInputs,
  },
  { additionalProperties: false },
);

export type GenerateOptions = Static<typeof optionsSchema>;
export type ImageInputOptions = Static<typeof imageInputs>;
