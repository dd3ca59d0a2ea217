import { Type, type Static } from '@sinclair/typebox';

export const optionsSchema = Type.Object(
  {
    /** Resolved against the working directory. */
    dir: Type.String({ minLength: 1, default: 'workflows', description: 'Workflows folder (relative to the working directory).' }),
    /** SIGHUP reloads in any case. */
    watch: Type.Boolean({ default: true, description: 'Reload the workflows when a file in the folder changes.' }),
    watchDebounceMs: Type.Integer({ minimum: 0, maximum: 60000, default: 300, description: 'Quiet time after a change before reloading.' }),
    objectInfoTimeoutMs: Type.Integer({
      minimum: 1,
      maximum: 30000,
      default: 1000,
      description: "How long /workflow-info waits for a backend's /object_info before answering from the workflow alone.",
    }),
    /** Accepted for old config files and ignored: the transport's cache (plugins.comfyui.objectInfoTtlMs) is the one cache. */
    objectInfoCacheMs: Type.Integer({
      minimum: 0,
      default: 60000,
      description: 'Ignored (kept so old config files still load): /object_info is cached once, by the transport (plugins.comfyui.objectInfoTtlMs).',
    }),
  },
  { additionalProperties: false },
);

export type WorkflowsOptions = Static<typeof optionsSchema>;
