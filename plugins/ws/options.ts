import type { JsonSchema } from '../../core/plugin.js';

export interface WsOptions {
  /** Every socket gets a `listening` frame this often. */
  heartbeatMs: number;
  /** A socket with no generation activity for this long gets `error` (time out) and is closed. */
  idleTimeoutMs: number;
  /** Websocket-level ping interval; a peer that missed the previous pong is dropped. */
  pingIntervalMs: number;
  /** Close every socket of a client after its generation ended (success or failure), as the original bridge does. */
  closeOnDone: boolean;
  /**
   * Frames published while a client had no socket open are handed to the first socket it opens
   * within this time (the POST-then-connect order), so a fast generation is not missed.
   */
  undeliveredReplayMs: number;
  /** Largest frame a client may send (client frames are ignored, but a bigger one closes the socket). */
  maxPayload: number;
  /** A socket whose unsent data exceeds this is a slow consumer and is cut off. */
  maxBufferedBytes: number;
  /** Sockets one clientId may hold open at once (several tabs); more → HTTP 429 at upgrade. */
  maxSocketsPerClient: number;
  /** How long a closing socket may take to finish the close handshake before it is destroyed. */
  closeGraceMs: number;
}

export const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    heartbeatMs: { type: 'integer', minimum: 10, maximum: 3_600_000, default: 1000, description: 'Interval of `listening` frames.' },
    idleTimeoutMs: {
      type: 'integer',
      minimum: 50,
      maximum: 86_400_000,
      default: 60_000,
      description: 'Close a socket that saw no generation activity for this long (`error` "time out error: …", then `closed`).',
    },
    pingIntervalMs: { type: 'integer', minimum: 20, maximum: 3_600_000, default: 30_000, description: 'Websocket ping interval to detect dead peers.' },
    closeOnDone: { type: 'boolean', default: true, description: 'Close the socket (code 1000) after `closed` / `error` of the generation.' },
    undeliveredReplayMs: {
      type: 'integer',
      minimum: 0,
      maximum: 3_600_000,
      default: 10_000,
      description: 'Frames nobody received (no socket was open) go to the first socket the client opens within this time.',
    },
    maxPayload: { type: 'integer', minimum: 16, maximum: 1_048_576, default: 4096, description: 'Largest client→server frame; bigger closes the socket (1009).' },
    maxBufferedBytes: {
      type: 'integer',
      minimum: 1,
      default: 1_048_576,
      description: 'Unsent bytes a socket may hold before it is cut off as a slow consumer (1008).',
    },
    maxSocketsPerClient: { type: 'integer', minimum: 1, maximum: 10_000, default: 16, description: 'Open sockets per clientId.' },
    closeGraceMs: { type: 'integer', minimum: 0, maximum: 60_000, default: 2000, description: 'Close handshake deadline before a socket is destroyed.' },
  },
};
