import type { JsonSchema } from '../../core/plugin.js';

/** The bridge queue in front of saturated backends (fair-queue.ts, docs/fair-share.md). */
export interface FairShareOptions {
  /** Prompts this bridge keeps on one backend at most; 0 turns the bridge queue off (everything goes straight to ComfyUI). */
  maxPromptsPerBackend: number;
  /** Releases a key gets in a row when its turn comes ("<key id>" or "client:<clientId>" → weight); 1 when not listed. */
  weights: Record<string, number>;
}

export const DEFAULT_FAIR_SHARE: FairShareOptions = Object.freeze({ maxPromptsPerBackend: 0, weights: Object.freeze({}) });

export const fairShareSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: 'The bridge queue: when every backend able to run a generation has maxPromptsPerBackend prompts of this bridge, new generations wait here and are released round-robin across API keys (docs/fair-share.md).',
  properties: {
    maxPromptsPerBackend: {
      type: 'integer',
      minimum: 0,
      maximum: 100_000,
      default: DEFAULT_FAIR_SHARE.maxPromptsPerBackend,
      description: 'Prompts (queued + running) this bridge keeps on one ComfyUI backend at most; more wait in the bridge queue. 0: off, every generation goes straight to ComfyUI.',
    },
    weights: {
      type: 'object',
      additionalProperties: { type: 'integer', minimum: 1, maximum: 1000 },
      default: {},
      description: 'Releases in a row a key gets when its turn comes, by API key id (or "client:<clientId>" with auth off); 1 when not listed.',
    },
  },
};
