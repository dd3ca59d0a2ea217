import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { GenerationStore, UploadStore } from './storage.js';

/** The retention rule both stores take as options. */
export interface RetentionRule {
  /** Finished generations older than this are deleted (null: keep regardless of age). */
  maxAgeDays: number | null;
  /** Only the newest maxRows generations are kept (null: no limit). */
  maxRows: number | null;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Generation ids are bridge-minted; refuse anything that could step out of the results dir. */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

/**
 * Applies the retention rule once: prunes finished generations, removes their result folders
 * (`<resultsDir>/<id>/`) and releases the uploads they used (which then expire like unused ones).
 * Returns the ids deleted. Shared by the stores (plugins do not import each other). Several
 * instances may run it at once on a shared store: a row is returned only to the prune that removed
 * it, so each folder is removed by exactly one of them.
 */
export async function applyRetention(
  generations: GenerationStore,
  rule: RetentionRule,
  resultsDir: string,
  now: Date = new Date(),
  uploads?: UploadStore,
): Promise<string[]> {
  if (rule.maxAgeDays === null && rule.maxRows === null) return [];
  const deleted = await generations.prune({
    before: rule.maxAgeDays === null ? undefined : new Date(now.getTime() - rule.maxAgeDays * DAY_MS).toISOString(),
    keep: rule.maxRows ?? undefined,
  });
  for (const gen of deleted) {
    if (SAFE_ID.test(gen.id)) await rm(join(resultsDir, gen.id), { recursive: true, force: true });
    for (const name of gen.uploads) await uploads?.unmarkUsed(name, gen.id);
  }
  return deleted.map((gen) => gen.id);
}
