import type { Logger } from 'pino';
import { FINAL_STATES, type Generation } from '../../contracts/generation.js';
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
    const ended: Generation[] = [];
    for (const gen of claimed) {
      if (FINAL_STATES.has(gen.state)) {
        ended.push(gen);
        continue;
      }
      runner.adopt(gen);
      adopted.push(gen.id);
    }
    await announceEnds(leases, runner, log, ended);
    if (claimed.length < CLAIM_BATCH) break;
  }
  if (adopted.length > 0) log.info({ count: adopted.length }, 'following unfinished generations nobody else follows');
  return adopted;
}

/**
 * Finished generations whose instance died between storing the final state and publishing the
 * terminal frames (their lease ran out unannounced): the frames are rendered from the stored
 * generation and published, then the end is marked announced. One that cannot be published keeps
 * its lease until it runs out, and is claimed again.
 */
async function announceEnds(leases: LeaseStore, runner: Runner, log: Logger, ended: Generation[]): Promise<void> {
  const done: string[] = [];
  for (const gen of ended) {
    try {
      await runner.announceEnd(gen);
      done.push(gen.id);
    } catch (error) {
      log.warn({ err: error, genId: gen.id }, 'could not announce the end of a generation its instance left unannounced');
    }
  }
  if (done.length === 0) return;
  await leases.announced(done);
  log.info({ generations: done }, 'announced the ends of generations whose instance died before announcing them');
}
