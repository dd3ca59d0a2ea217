import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from 'pino';

/**
 * Calls `onChange` once a burst of changes in `dir` has settled for `debounceMs` (an editor save or
 * a copy fires several events; one reload is enough). Returns a function that stops watching.
 */
export function watchFolder(dir: string, debounceMs: number, onChange: () => void, log: Logger): () => void {
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  };
  try {
    watcher = watch(dir, { persistent: false }, schedule);
    watcher.on('error', (error) => {
      log.warn({ err: error, dir }, 'stopped watching the workflows folder; send SIGHUP to reload');
      watcher?.close();
    });
  } catch (error) {
    log.warn({ err: error, dir }, 'cannot watch the workflows folder; send SIGHUP to reload');
  }
  return () => {
    clearTimeout(timer);
    watcher?.close();
  };
}
