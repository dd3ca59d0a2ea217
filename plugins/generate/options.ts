import { RETRY_AFTER_SECONDS } from '../../contracts/transport.js';
import type { JsonSchema } from '../../core/plugin.js';
import { quotaSchema, type QuotaOptions } from './quota-options.js';

export interface GenerateOptions {
  /** Generations one clientId may have queued or running at once; more → 429. */
  maxActivePerClient: number;
  /** Generations the whole bridge may have queued or running at once (the queue bound); more → 429. */
  maxActive: number;
  /** How long `wait: true` holds the request before answering 202 with the queued body. */
  waitTimeoutMs: number;
  /** Retry-After (seconds) sent with a 429. */
  retryAfterSeconds: number;
  /** Image inputs given as a data: URL or an http(s) URL instead of a stored upload name. */
  imageInputs: ImageInputOptions;
  /** Per-API-key quotas (max active, per minute, per day); none unless configured. */
  quotas?: QuotaOptions;
}

export interface ImageInputOptions {
  /** Accept `data:image/...;base64,...` values. */
  dataUrls: boolean;
  /** Accept http(s) URLs (fetched by the bridge); off unless allowHosts names hosts. */
  urls: boolean;
  /** Hosts image URLs may name: exact, or "*.example.com"; "*" for any public host. */
  allowHosts: string[];
  /** Let URLs reach loopback, private and link-local addresses (never on a bridge that faces the internet). */
  allowPrivateAddresses: boolean;
  /** Largest image fetched or decoded from a data: URL, in bytes (the upload plugin's maxFileBytes applies too). */
  maxBytes: number;
  /** Longest fetch of one image URL. */
  timeoutMs: number;
}

export const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    maxActivePerClient: {
      type: 'integer',
      minimum: 1,
      maximum: 10_000,
      default: 10,
      description: 'Generations one clientId may have queued or running at once (per-client fairness); more → 429.',
    },
    maxActive: {
      type: 'integer',
      minimum: 1,
      maximum: 1_000_000,
      default: 1000,
      description: 'Generations the whole bridge may have queued or running at once (the queue bound); more → 429.',
    },
    waitTimeoutMs: {
      type: 'integer',
      minimum: 1,
      maximum: 3_600_000,
      default: 300_000,
      description: 'Longest `wait: true` hold; after it the answer is 202 with the queued body.',
    },
    retryAfterSeconds: {
      type: 'integer',
      minimum: 1,
      maximum: 3600,
      default: RETRY_AFTER_SECONDS,
      description: "Retry-After of a 429 (defaults to the bridge's one Retry-After policy).",
    },
    quotas: quotaSchema,
    imageInputs: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Image inputs given as a data: URL or an http(s) URL; each is checked and stored exactly like an upload (docs/integrations.md).',
      properties: {
        dataUrls: { type: 'boolean', default: true, description: 'Accept data:image/...;base64,... values (bounded by maxBytes and the server body limit).' },
        urls: { type: 'boolean', default: false, description: 'Accept http(s) URLs the bridge fetches (hosts in allowHosts only).' },
        allowHosts: { type: 'array', items: { type: 'string', minLength: 1 }, default: [], description: 'Hosts image URLs may name: "images.example.com", "*.example.com", or "*".' },
        allowPrivateAddresses: {
          type: 'boolean',
          default: false,
          description: 'Let image URLs reach loopback, private, link-local and metadata addresses (refused otherwise, after DNS, on the connection itself).',
        },
        maxBytes: { type: 'integer', minimum: 1, maximum: 1_073_741_824, default: 20_971_520, description: 'Largest image fetched or decoded, in bytes.' },
        timeoutMs: { type: 'integer', minimum: 1, maximum: 600_000, default: 10_000, description: 'Longest fetch of one image URL.' },
      },
    },
  },
};
