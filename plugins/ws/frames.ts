import type { GenerationFrame } from '../../plugins/generations/api.js';

/**
 * Wire frames (SPEC §2.1). Per-socket frames are encoded once at load; generation frames once per
 * publish — every socket of a client is sent the very same Buffer.
 */
export const encode = (frame: object): Buffer => Buffer.from(JSON.stringify(frame));

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

export const idleFrames = (idleMs: number): Buffer[] => [
  encode({ status: 'error', details: `time out error: no generation activity for ${Math.round(idleMs / 1000)} s` }),
  encode({ status: 'closed', details: 'connection closed after an idle time out' }),
];

/** The `closed` that follows a generation's `error`: same generation, numbered like it. */
export function closedAfterError(failed: GenerationFrame): GenerationFrame {
  const state = typeof failed.data.state === 'string' ? failed.data.state : 'failed';
  return { status: 'closed', details: `Execution ended: ${state}`, data: { id: failed.data.id, state } };
}

/** The last `progress` before `closed` reads 100.00% (SPEC §2.1), even if the generation jumped there. */
export function fullProgress(done: GenerationFrame): GenerationFrame {
  return { status: 'progress', details: '100.00%', data: { ...done.data, percent: 100 } };
}
