import type { Logger } from 'pino';
import type { LeaseStore } from '../../contracts/storage.js';
import type { Runner } from './runner.js';

/** Claimed per statement, so one pass never holds thousands of row locks. */
const CLAIM_BATCH = 100;

/**
 * Generations nobody follows any more: those an earlier run of this process left queued or running
 * (at start), and, with a shared store, those of an instance that died (its leases ran out). Each
 * is claimed by exactly one instance, which follows its prompt again: the transport resumes it and
 * checks it with the backend in the background (completed, failed, interrupted, still running, or
 * `lost`, which the machine's onLost policy resubmits or fails). Nothing is submitted again unless
 * the backend no longer knows the prompt. Resolves with the adopted ids once loaded, not checked.
 */
export async function adoptClaimed(leases: LeaseStore, runner: Runner, log: Logger): Promise<string[]> {
  const adopted: string[] = [];
  for (;;) {
    const claimed = await leases.claimExpired(CLAIM_BATCH);
    for (const gen of claimed) {
      runner.adopt(gen);
      adopted.push(gen.id);
    }
    if (claimed.length < CLAIM_BATCH) break;
  }
  if (adopted.length > 0) log.info({ count: adopted.length }, 'following unfinished generations nobody else follows');
  return adopted;
}
