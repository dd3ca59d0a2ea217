import type { JsonSchema } from '../../core/plugin.js';

export interface RetentionOptions {
  /** Finished generations older than this are deleted (null: keep regardless of age). */
  maxAgeDays: number | null;
  /** Only the newest maxRows generations are kept (null: no limit). */
  maxRows: number | null;
  intervalMs: number;
}

export interface StoragePostgresOptions {
  url: string;
  poolSize: number;
  statementTimeoutMs: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  healthIntervalMs: number;
  applicationName: string;
  leaseMs: number;
  retention: RetentionOptions;
}

export const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['url'],
  properties: {
    url: {
      type: 'string',
      pattern: '^postgres(ql)?://',
      description: 'Connection string, e.g. postgres://bridge:secret@db:5432/bridge (sslmode=require and the like go in its query).',
    },
    poolSize: { type: 'integer', minimum: 1, maximum: 1000, default: 10, description: 'Connections this instance keeps open at most.' },
    statementTimeoutMs: {
      type: 'integer',
      minimum: 100,
      default: 10000,
      description: 'A statement running longer is cancelled by the server (the request fails with 500 instead of hanging).',
    },
    connectTimeoutMs: { type: 'integer', minimum: 100, default: 5000, description: 'How long to wait for a connection (new or from the pool).' },
    idleTimeoutMs: { type: 'integer', minimum: 1000, default: 30000, description: 'An idle pooled connection is closed after this long.' },
    healthIntervalMs: {
      type: 'integer',
      minimum: 100,
      default: 5000,
      description: 'How often the database is pinged; /ready reports storage down after a failed ping.',
    },
    applicationName: { type: 'string', minLength: 1, default: 'comfy-bridge', description: 'application_name shown in pg_stat_activity.' },
    leaseMs: {
      type: 'integer',
      minimum: 1000,
      default: 6000,
      description: 'How long an instance owns the unfinished generations it follows unless it renews (every third of it); a survivor claims those of a dead instance once this runs out.',
    },
    retention: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Which finished generations (and their result folders) are deleted, checked on a schedule by one instance at a time.',
      properties: {
        maxAgeDays: { type: ['number', 'null'], exclusiveMinimum: 0, default: null, description: 'Delete finished generations older than this; null keeps all.' },
        maxRows: { type: ['integer', 'null'], minimum: 1, default: null, description: 'Keep only the newest N generations; null keeps all.' },
        intervalMs: { type: 'integer', minimum: 1000, default: 3600000, description: 'How often retention runs.' },
      },
    },
  },
};
