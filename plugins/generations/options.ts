import type { JsonSchema } from '../../core/plugin.js';
import { DEFAULT_FAIR_SHARE, fairShareSchema, type FairShareOptions } from './fair-share-options.js';

export interface GenerationsOptions {
  /** What to do with a generation its backend forgot (restart, gone too long): submit it again once, or fail it. */
  onLost: 'resubmit' | 'fail';
  /** How many submissions one generation may get in all (the first included). */
  maxAttempts: number;
  /**
   * Handed to the transport with each run: no news from ComfyUI for this long and the transport checks
   * the prompt, and ends it `stuck` (failed) only when the backend cannot say (queued or running goes on).
   */
  stuckAfterMs: number;
  /** Pure percent changes reach the store at most this often per generation (listeners hear every one). */
  progressPersistMs: number;
  /** How long counting the nodes that will run may wait for the backend's /object_info. */
  objectInfoTimeoutMs: number;
  /** The bridge queue in front of saturated backends (off unless maxPromptsPerBackend is set). */
  fairShare?: FairShareOptions;
}

export const DEFAULT_OPTIONS: GenerationsOptions = Object.freeze({
  onLost: 'resubmit',
  maxAttempts: 2,
  stuckAfterMs: 600_000,
  progressPersistMs: 250,
  objectInfoTimeoutMs: 2_000,
  fairShare: DEFAULT_FAIR_SHARE,
});

export const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    onLost: {
      enum: ['resubmit', 'fail'],
      default: DEFAULT_OPTIONS.onLost,
      description: 'A generation its backend forgot (restart, gone too long): submit it again to a healthy backend, or fail it.',
    },
    maxAttempts: {
      type: 'integer',
      minimum: 1,
      maximum: 10,
      default: DEFAULT_OPTIONS.maxAttempts,
      description: 'Submissions one generation may get in all, the first included.',
    },
    stuckAfterMs: {
      type: 'integer',
      minimum: 50,
      default: DEFAULT_OPTIONS.stuckAfterMs,
      description: 'A generation with no news from ComfyUI for this long is checked: failed when its backend cannot say, left alone when ComfyUI says it is queued or running.',
    },
    progressPersistMs: {
      type: 'integer',
      minimum: 0,
      default: DEFAULT_OPTIONS.progressPersistMs,
      description: 'Percent-only changes are written to the store at most this often per generation.',
    },
    objectInfoTimeoutMs: {
      type: 'integer',
      minimum: 0,
      default: DEFAULT_OPTIONS.objectInfoTimeoutMs,
      description: 'How long counting the nodes that will run may wait for /object_info before falling back to known output classes.',
    },
    fairShare: fairShareSchema,
  },
};
