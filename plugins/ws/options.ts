import { Type, type Static } from '@sinclair/typebox';

const int = (minimum: number, maximum: number | undefined, def: number, description: string) =>
  Type.Integer({ minimum, ...(maximum === undefined ? {} : { maximum }), default: def, description });

export const optionsSchema = Type.Object(
  {
    /** Every socket gets a `listening` frame this often. */
    heartbeatMs: int(10, 3_600_000, 1000, 'Interval of `listening` frames.'),
    idleTimeoutMs: int(50, 86_400_000, 60_000, 'Close a socket that saw no generation activity for this long (`error` "time out error: …", then `closed`).'),
    /** A peer that missed the previous pong is dropped. */
    pingIntervalMs: int(20, 3_600_000, 30_000, 'Websocket ping interval to detect dead peers.'),
    /** As the original bridge does. */
    closeOnDone: Type.Boolean({ default: true, description: 'Close the socket (code 1000) after `closed` / `error` of the generation.' }),
    /** The POST-then-connect order: a fast generation is not missed. */
    undeliveredReplayMs: int(0, 3_600_000, 10_000, 'Frames nobody received (no socket was open) go to the first socket the client opens within this time.'),
    /** Client frames are ignored, but a bigger one closes the socket. */
    maxPayload: int(16, 1_048_576, 4096, 'Largest client→server frame; bigger closes the socket (1009).'),
    maxBufferedBytes: int(1, undefined, 1_048_576, 'Unsent bytes a socket may hold before it is cut off as a slow consumer (1008).'),
    /** Several tabs; more → HTTP 429 at upgrade. */
    maxSocketsPerClient: int(1, 10_000, 16, 'Open sockets per clientId.'),
    closeGraceMs: int(0, 60_000, 2000, 'Close handshake deadline before a socket is destroyed.'),
  },
  { additionalProperties: false },
);

export type WsOptions = Static<typeof optionsSchema>;
