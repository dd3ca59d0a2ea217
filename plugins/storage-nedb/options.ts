import type { JsonSchema } from '../../core/plugin.js';

export interface RetentionOptions {
  /** Finished generations older than this are deleted (null: keep regardless of age). */
  maxAgeDays: number | null;
  /** Only the newest maxRows generations are kept (null: no limit). */
  maxRows: number | null;
  intervalMs: number;
}

export interface StorageNedbOptions {
  inMemory: boolean;
  syncWrites: boolean;
  compactIntervalMs: number;
  retention: RetentionOptions;
}

export const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    inMemory: { type: 'boolean', default: false, description: 'Keep everything in memory (tests); nothing is written to the data dir.' },
    syncWrites: {
      type: 'boolean',
      default: true,
      description:
        'fdatasync every batch of writes before it resolves, so a generation answered "queued" survives a power loss, not only a crash ' +
        '(concurrent writes share one sync). false keeps crash safety (kill -9) and leaves power-loss safety to the OS.',
    },
    compactIntervalMs: {
      type: 'integer',
      minimum: 5000,
      default: 600000,
      description:
        'How often the datafiles are checked for compaction (nedb appends a line per change); a file is rewritten once it has grown by its size at the last rewrite.',
    },
    retention: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Which finished generations (and their result folders) are deleted, checked on a schedule.',
      properties: {
        maxAgeDays: { type: ['number', 'null'], exclusiveMinimum: 0, default: null, description: 'Delete finished generations older than this; null keeps all.' },
        maxRows: { type: ['integer', 'null'], minimum: 1, default: null, description: 'Keep only the newest N generations; null keeps all.' },
        intervalMs: { type: 'integer', minimum: 1000, default: 3600000, description: 'How often retention runs.' },
      },
    },
  },
};
