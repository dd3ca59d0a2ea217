import type { JsonSchema } from '../../core/plugin.js';

export interface WorkflowsOptions {
  /** The workflows folder, resolved against the working directory. */
  dir: string;
  /** Reload when the folder changes (SIGHUP reloads in any case). */
  watch: boolean;
  watchDebounceMs: number;
  objectInfoTimeoutMs: number;
  /** Accepted for old config files and ignored: the transport's cache (plugins.comfyui.objectInfoTtlMs) is the one cache. */
  objectInfoCacheMs: number;
}

export const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    dir: { type: 'string', minLength: 1, default: 'workflows', description: 'Workflows folder (relative to the working directory).' },
    watch: { type: 'boolean', default: true, description: 'Reload the workflows when a file in the folder changes.' },
    watchDebounceMs: { type: 'integer', minimum: 0, maximum: 60000, default: 300, description: 'Quiet time after a change before reloading.' },
    objectInfoTimeoutMs: {
      type: 'integer',
      minimum: 1,
      maximum: 30000,
      default: 1000,
      description: "How long /workflow-info waits for a backend's /object_info before answering from the workflow alone.",
    },
    objectInfoCacheMs: {
      type: 'integer',
      minimum: 0,
      default: 60000,
      description: 'Ignored (kept so old config files still load): /object_info is cached once, by the transport (plugins.comfyui.objectInfoTtlMs).',
    },
  },
};
