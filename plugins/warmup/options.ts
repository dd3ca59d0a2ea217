import type { JsonSchema } from '../../core/plugin.js';

export interface WarmupOptions {
  /** Aliases to warm up besides those whose manifest says `warmup` (with the graph's defaults). */
  workflows: string[];
  /** /ready answers 503 while a marked workflow's warm-up is pending on every capable backend. */
  readyWaits: boolean;
  /** A warm-up still not ended after this long is removed from the backend's queue (or interrupted) and counted failed. */
  timeoutMs: number;
}

export const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    workflows: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      uniqueItems: true,
      default: [],
      description: 'Workflow aliases to warm up besides those marked `warmup` in their manifest.',
    },
    readyWaits: {
      type: 'boolean',
      default: false,
      description: '/ready answers 503 while a marked workflow is still warming up on every backend that can run it.',
    },
    timeoutMs: {
      type: 'integer',
      minimum: 1000,
      maximum: 3_600_000,
      default: 600_000,
      description: 'A warm-up not ended after this long is removed from the queue or interrupted, and counted failed.',
    },
  },
};
