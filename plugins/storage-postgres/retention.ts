import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { GenerationStore, UploadStore } from '../../contracts/storage.js';
import type { RetentionOptions } from './options.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** Generation ids are bridge-minted; refuse anything that could step out of the results dir. */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

/**
 * Applies the retention rule once: prunes finished generations, removes their result folders
 * (`<resultsDir>/<id>/`) and releases the uploads they used. Several instances may run it at the
 * same time: a row is returned only to the DELETE that removed it, so each folder is removed by
 * exactly one of them. (The same steps as storage-nedb's retention; plugins do not import each other.)
 */
export async function applyRetention(
  generations: GenerationStore,
  rule: Pick<RetentionOptions, 'maxAgeDays' | 'maxRows'>,
  resultsDir: string,
  now: Date,
  uploads: UploadStore,
): Promise<string[]> {
  if (rule.maxAgeDays === null && rule.maxRows === null) return [];
  const deleted = await generations.prune({
    before: rule.maxAgeDays === null ? undefined : new Date(now.getTime() - rule.maxAgeDays * DAY_MS).toISOString(),
    keep: rule.maxRows ?? undefined,
  });
  for (const gen of deleted) {
    if (SAFE_ID.test(gen.id)) await rm(join(resultsDir, gen.id), { recursive: true, force: true });
    for (const name of gen.uploads) await uploads.unmarkUsed(name, gen.id);
  }
  return deleted.map((gen) => gen.id);
}
