import type { Logger } from 'pino';
import type { Clock } from '../../core/timers.js';
import { every } from '../../lib/every.js';
import type { UploadLibrary } from './library.js';

/**
 * Every `intervalMs` deletes unused uploads older than `expireAfterMs` (by `clock`, so a test moves time instead of
 * sleeping); a slow sweep is not stacked upon and the timer never keeps the process alive. `stop()` waits for a
 * sweep in progress.
 */
export function startExpiry(library: UploadLibrary, expireAfterMs: number, intervalMs: number, log: Logger, clock: Clock): { stop(): Promise<void> } {
  return every(
    intervalMs,
    () =>
      library
        .deleteExpired(new Date(clock.now() - expireAfterMs))
        .then((count) => {
          if (count > 0) log.info({ count }, 'deleted expired uploads');
        })
        .catch((error: unknown) => log.error({ err: error }, 'deleting expired uploads failed')),
    clock,
  );
}
