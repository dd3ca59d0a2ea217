import type { Logger } from 'pino';
import type { UploadLibrary } from './library.js';

export interface ExpiryTimer {
  /** Stops the timer and waits for a sweep in progress. */
  stop(): Promise<void>;
}

/** Periodically deletes unused uploads older than `expireAfterMs`; never keeps the process alive. */
export function startExpiry(library: UploadLibrary, expireAfterMs: number, intervalMs: number, log: Logger): ExpiryTimer {
  let running: Promise<void> | undefined;
  const sweep = (): void => {
    if (running) return; // a slow sweep is not stacked upon
    running = library
      .deleteExpired(new Date(Date.now() - expireAfterMs))
      .then((count) => {
        if (count > 0) log.info({ count }, 'deleted expired uploads');
      })
      .catch((error: unknown) => log.error({ err: error }, 'deleting expired uploads failed'))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(sweep, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
