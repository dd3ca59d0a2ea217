import { RETRY_AFTER_SECONDS } from '../../contracts/transport.js';
import type { JsonSchema } from '../../core/plugin.js';

export interface GenerateOptions {
  /** Generations one clientId may have queued or running at once; more → 429. */
  maxActivePerClient: number;
  /** Generations the whole bridge may have queued or running at once (the queue bound); more → 429. */
  maxActive: number;
  /** How long `wait: true` holds the request before answering 202 with the queued body. */
  waitTimeoutMs: number;
  /** Retry-After (seconds) sent with a 429. */
  retryAfterSeconds: number;
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
  },
};
