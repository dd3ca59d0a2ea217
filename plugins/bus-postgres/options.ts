import { Type, type Static } from '@sinclair/typebox';

const int = (minimum: number, def: number, description: string, maximum?: number) =>
  Type.Integer({ minimum, ...(maximum === undefined ? {} : { maximum }), default: def, description });

export const optionsSchema = Type.Object(
  {
    url: Type.String({ pattern: '^postgres(ql)?://', description: 'Connection string (COMFY_BRIDGE_DATABASE_URL sets it), usually the same database as storage-postgres.' }),
    poolSize: int(1, 4, 'Connections for replay and pruning, besides the one publishing and the one LISTEN connection.', 1000),
    connectTimeoutMs: int(100, 5000, 'How long to wait for a connection.'),
    statementTimeoutMs: int(100, 5000, 'A slower publish or replay is cancelled by the server.'),
    replayWindow: int(0, 200, 'Messages kept per topic for replay (`&since=`).', 100_000),
    replayWindowMs: int(0, 300_000, 'Oldest message kept for replay.', 86_400_000),
    pruneIntervalMs: int(1000, 30_000, 'How often messages outside the replay window are deleted.'),
  },
  { additionalProperties: false },
);

export type BusPostgresOptions = Static<typeof optionsSchema>;
