import { BridgeError } from '../../core/errors.js';

/** errno codes that mean "no room", not "bad request": the disk or the quota is full. */
const NO_ROOM = new Set(['ENOSPC', 'EDQUOT']);

/** Whether an error (or one of its causes) is the file system saying it is full. */
export function isDiskFull(error: unknown): boolean {
  for (let seen = 0, current = error; current && seen < 8; seen++) {
    if (NO_ROOM.has((current as NodeJS.ErrnoException).code ?? '')) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * 507: our disk is full, which is no fault of the client's file. The detail is ours, never the
 * system's error text (which names paths); the cause goes to the log only.
 */
export function insufficientStorage(cause: unknown): BridgeError {
  return new BridgeError(507, 'insufficient_storage', 'the server has no room to store this upload right now; try again later', {
    cause,
    headers: { 'Retry-After': '60' },
  });
}
