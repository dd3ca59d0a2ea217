import { textFrame, type TextFrame } from './text-frame.js';

/**
 * Wire frames (SPEC §2.1), as websocket text frames ready to write (text-frame.ts). Per-socket frames are
 * encoded once at load; generation frames arrive rendered from the bus and are encoded once per message —
 * every socket of a client is sent the very same Buffer.
 */
export const encode = (frame: object): TextFrame => textFrame(JSON.stringify(frame));

export const CONNECTED = encode({ status: 'connected', details: 'server connected' });
export const LISTENING = encode({ status: 'listening', details: 'server is listening' });
export const SHUTDOWN_CLOSED = encode({ status: 'closed', details: 'server is shutting down' });
export const SLOW_ERROR = encode({ status: 'error', details: 'send buffer overflow: the client reads too slowly' });
export const SLOW_CLOSED = encode({ status: 'closed', details: 'connection closed: the client reads too slowly' });

/** A socket on a clientId that another key has just bound (or had bound): it is closed after these. */
export const BOUND_ELSEWHERE = [
  encode({ status: 'error', details: 'this clientId is now bound to another API key' }),
  encode({ status: 'closed', details: 'connection closed: the clientId belongs to another API key' }),
];

export const idleFrames = (idleMs: number): TextFrame[] => [
  encode({ status: 'error', details: `time out error: no generation activity for ${Math.round(idleMs / 1000)} s` }),
  encode({ status: 'closed', details: 'connection closed after an idle time out' }),
];
