import type { Logger } from 'pino';
import type { Storage } from '../../contracts/storage.js';
import type { Runner } from './runner.js';

/**
 * After a bridge restart: every stored generation left queued or running is followed again. The
 * transport resumes its prompt and checks it with the backend in the background (completed, failed,
 * interrupted, still running, or `lost`, which the machine's onLost policy resubmits or fails).
 * Resolves once they are loaded, not checked.
 */
export async function adoptUnfinished(storage: Storage, runner: Runner, log: Logger): Promise<number> {
  const unfinished = await storage.generations.unfinished();
  for (const gen of unfinished) runner.adopt(gen);
  if (unfinished.length > 0) log.info({ count: unfinished.length }, 'following unfinished generations again');
  return unfinished.length;
}
