import { BridgeError } from '../../core/errors.js';

/** Seconds a client is asked to wait before retrying a write the disk refused. */
export const RETRY_AFTER_SECONDS = 5;

/**
 * A write the datafile refused (disk full, I/O error, read-only filesystem) or a write after close.
 * It carries its own status, so the kernel's error mapper answers 503 with Retry-After without the
 * caller mapping anything. The detail never carries the raw system error (that stays in `cause`,
 * for the log).
 */
export function storageUnavailable(cause: unknown, what = 'the data store could not write'): BridgeError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const why = code === 'ENOSPC' ? ' (disk full)' : code === 'EROFS' ? ' (read-only filesystem)' : code === 'EIO' ? ' (I/O error)' : '';
  return new BridgeError(503, 'storage_unavailable', `${what}${why}; nothing was saved, retry later`, {
    cause,
    headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) },
  });
}
