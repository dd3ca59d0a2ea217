import { Type, type Static } from '@sinclair/typebox';

const int = (minimum: number, def: number, description: string, maximum?: number) =>
  Type.Integer({ minimum, ...(maximum === undefined ? {} : { maximum }), default: def, description });

const retention = Type.Object(
  {
    /** null: keep regardless of age. */
    maxAgeDays: Type.Unsafe<number | null>({ type: ['number', 'null'], exclusiveMinimum: 0, default: null, description: 'Delete finished generations older than this; null keeps all.' }),
    /** null: no limit. */
    maxRows: Type.Unsafe<number | null>({ type: ['integer', 'null'], minimum: 1, default: null, description: 'Keep only the newest N generations; null keeps all.' }),
    intervalMs: int(1000, 3600000, 'How often retention runs.'),
  },
  { additionalProperties: false, default: {}, description: 'Which finished generations (and their result folders) are deleted, checked on a schedule by one instance at a time.' },
);

export const optionsSchema = Type.Object(
  {
    url: Type.String({
      pattern: '^postgres(ql)?://',
      description: 'Connection string, e.g. postgres://bridge:secret@db:5432/bridge (sslmode=require and the like go in its query).',
    }),
    poolSize: int(1, 10, 'Connections this instance keeps open at most.', 1000),
    statementTimeoutMs: int(100, 10000, 'A statement running longer is cancelled by the server (the request fails with 500 instead of hanging).'),
    connectTimeoutMs: int(100, 5000, 'How long to wait for a connection (new or from the pool).'),
    idleTimeoutMs: int(1000, 30000, 'An idle pooled connection is closed after this long.'),
    healthIntervalMs: int(100, 5000, 'How often the database is pinged; /ready reports storage down after a failed ping.'),
    applicationName: Type.String({ minLength: 1, default: 'comfy-bridge', description: 'application_name shown in pg_stat_activity.' }),
    leaseMs: int(
      1000,
      6000,
      'How long an instance owns the unfinished generations it follows unless it renews (every third of it); a survivor claims those of a dead instance once this runs out.',
    ),
    retention,
  },
  { additionalProperties: false },
);

export type RetentionOptions = Static<typeof retention>;
export type StoragePostgresOptions = Static<typeof optionsSchema>;
