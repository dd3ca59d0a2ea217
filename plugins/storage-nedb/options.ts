import { Type, type Static } from '@sinclair/typebox';

const retention = Type.Object(
  {
    /** null: keep regardless of age. */
    maxAgeDays: Type.Unsafe<number | null>({ type: ['number', 'null'], exclusiveMinimum: 0, default: null, description: 'Delete finished generations older than this; null keeps all.' }),
    /** null: no limit. */
    maxRows: Type.Unsafe<number | null>({ type: ['integer', 'null'], minimum: 1, default: null, description: 'Keep only the newest N generations; null keeps all.' }),
    intervalMs: Type.Integer({ minimum: 1000, default: 3600000, description: 'How often retention runs.' }),
  },
  { additionalProperties: false, default: {}, description: 'Which finished generations (and their result folders) are deleted, checked on a schedule.' },
);

export const optionsSchema = Type.Object(
  {
    inMemory: Type.Boolean({ default: false, description: 'Keep everything in memory (tests); nothing is written to the data dir.' }),
    syncWrites: Type.Boolean({
      default: true,
      description:
        'fdatasync every batch of writes before it resolves, so a generation answered "queued" survives a power loss, not only a crash ' +
        '(concurrent writes share one sync). false keeps crash safety (kill -9) and leaves power-loss safety to the OS.',
    }),
    compactIntervalMs: Type.Integer({
      minimum: 5000,
      default: 600000,
      description:
        'How often the datafiles are checked for compaction (nedb appends a line per change); a file is rewritten once it has grown by its size at the last rewrite.',
    }),
    retention,
  },
  { additionalProperties: false },
);

export type RetentionOptions = Static<typeof retention>;
export type StorageNedbOptions = Static<typeof optionsSchema>;
