import { Type, type Static } from '@sinclair/typebox';
import { DEFAULT_FAIR_SHARE, fairShareSchema, type FairShareOptions } from './fair-share-options.js';

const DEFAULTS = {
  onLost: 'resubmit' as const,
  maxAttempts: 2,
  stuckAfterMs: 600_000,
  progressPersistMs: 250,
  objectInfoTimeoutMs: 2_000,
  fairShare: DEFAULT_FAIR_SHARE,
};

export const optionsSchema = Type.Object(
  {
    onLost: Type.Unsafe<'resubmit' | 'fail'>({
      enum: ['resubmit', 'fail'],
      default: DEFAULTS.onLost,
      description: 'A generation its backend forgot (restart, gone too long): submit it again to a healthy backend, or fail it.',
    }),
    maxAttempts: Type.Integer({ minimum: 1, maximum: 10, default: DEFAULTS.maxAttempts, description: 'Submissions one generation may get in all, the first included.' }),
    /**
     * Handed to the transport with each run: no news from ComfyUI for this long and the transport checks
     * the prompt, and ends it `stuck` (failed) only when the backend cannot say (queued or running goes on).
     */
    stuckAfterMs: Type.Integer({
      minimum: 50,
      default: DEFAULTS.stuckAfterMs,
      description: 'A generation with no news from ComfyUI for this long is checked: failed when its backend cannot say, left alone when ComfyUI says it is queued or running.',
    }),
    /** Listeners hear every percent; the store gets pure percent changes at most this often. */
    progressPersistMs: Type.Integer({ minimum: 0, default: DEFAULTS.progressPersistMs, description: 'Percent-only changes are written to the store at most this often per generation.' }),
    objectInfoTimeoutMs: Type.Integer({
      minimum: 0,
      default: DEFAULTS.objectInfoTimeoutMs,
      description: 'How long counting the nodes that will run may wait for /object_info before falling back to known output classes.',
    }),
    /** The bridge queue in front of saturated backends (off unless maxPromptsPerBackend is set). */
    fairShare: Type.Optional(Type.Unsafe<FairShareOptions>(fairShareSchema)),
  },
  { additionalProperties: false },
);

export type GenerationsOptions = Static<typeof optionsSchema>;

export const DEFAULT_OPTIONS: GenerationsOptions = Object.freeze(DEFAULTS);
