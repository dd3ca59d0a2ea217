import type { JsonSchema } from '../../core/plugin.js';

/** One key's quotas; a limit left out is no limit. */
export interface QuotaLimits {
  /** Generations queued (in ComfyUI or held by the bridge) or running at once. */
  maxActive?: number;
  /** Generations started in the last 60 seconds (a sliding window). */
  perMinute?: number;
  /** Generations started in the last 24 hours (a sliding window). */
  perDay?: number;
}

export interface QuotaOptions {
  /** For every key not named in `keys` (with auth off: for each clientId). */
  default: QuotaLimits;
  /** By API key id (plugins.auth.keys[].id). */
  keys: Record<string, QuotaLimits>;
}

export const QUOTA_LIMITS = ['maxActive', 'perMinute', 'perDay'] as const;
export type QuotaLimit = (typeof QUOTA_LIMITS)[number];

const limitsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    maxActive: { type: 'integer', minimum: 1, maximum: 1_000_000, description: 'Generations queued or running at once (held in the bridge queue included).' },
    perMinute: { type: 'integer', minimum: 1, maximum: 1_000_000, description: 'Generations started in any 60 seconds.' },
    perDay: { type: 'integer', minimum: 1, maximum: 10_000_000, description: 'Generations started in any 24 hours.' },
  },
};

export const quotaSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: 'Per-API-key quotas checked at generate (429 naming the limit, with Retry-After); counted from the store, so a fleet on one store shares them (docs/fair-share.md).',
  properties: {
    default: { ...limitsSchema, default: {}, description: 'Quotas of every key not named in keys (with auth off: of each clientId). Empty: none.' },
    keys: { type: 'object', additionalProperties: limitsSchema, default: {}, description: 'Quotas by API key id; they replace the default for that key.' },
  },
};
