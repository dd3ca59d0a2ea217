import type { JsonSchema } from '../../core/plugin.js';

export interface BusPostgresOptions {
  url: string;
  poolSize: number;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  replayWindow: number;
  replayWindowMs: number;
  pruneIntervalMs: number;
}

export const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['url'],
  properties: {
    url: {
      type: 'string',
      pattern: '^postgres(ql)?://',
      description: 'Connection string (COMFY_BRIDGE_DATABASE_URL sets it), usually the same database as storage-postgres.',
    },
    poolSize: { type: 'integer', minimum: 1, maximum: 1000, default: 4, description: 'Connections for publishing and replay, besides the one LISTEN connection.' },
    connectTimeoutMs: { type: 'integer', minimum: 100, default: 5000, description: 'How long to wait for a connection.' },
    statementTimeoutMs: { type: 'integer', minimum: 100, default: 5000, description: 'A slower publish or replay is cancelled by the server.' },
    replayWindow: { type: 'integer', minimum: 0, maximum: 100_000, default: 200, description: 'Messages kept per topic for replay (`&since=`).' },
    replayWindowMs: { type: 'integer', minimum: 0, maximum: 86_400_000, default: 300_000, description: 'Oldest message kept for replay.' },
    pruneIntervalMs: { type: 'integer', minimum: 1000, default: 30_000, description: 'How often messages outside the replay window are deleted.' },
  },
};
