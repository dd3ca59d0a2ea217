import type { GenerationStore, UploadStore } from './storage.js';

/** The retention rule both stores take as options. */
export interface RetentionRule {
  /** Finished generations older than this are deleted (null: keep regardless of age). */
  maxAgeDays: number | null;
  /** Only the newest maxRows generations are kept (null: no limit). */
  maxRows: number | null;
}

/**
 * Deletes a pruned generation's result files. The results service (plugins/results) is their one owner: it knows
 * where they live (a folder, an object store) and refuses an id that is not one safe name.
 */
export type RemoveResults = (generationId: string) => Promise<void>;

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Applies the retention rule once: prunes finished generations, asks `removeResults` to delete their result files
 * and releases the uploads they used (which then expire like unused ones). Returns the ids deleted. Shared by the
 * stores (plugins do not import each other). Several instances may run it at once on a shared store: a row is
 * returned only to the prune that removed it, so each generation's files are removed by exactly one of them.
 * A removal that fails does not stop the others (the rows are gone already); the failures are thrown together
 * at the end.
 */
export async function applyRetention(
  generations: GenerationStore,
  rule: RetentionRule,
  removeResults: RemoveResults,
  now: Date = new Date(),
  uploads?: UploadStore,
): Promise<string[]> {
  if (rule.maxAgeDays === null && rule.maxRows === null) return [];
  const deleted = await generations.prune({
    before: rule.maxAgeDays === null ? undefined : new Date(now.getTime() - rule.maxAgeDays * DAY_MS).toISOString(),
    keep: rule.maxRows ?? undefined,
  });
  const failures: unknown[] = [];
  for (const gen of deleted) {
    try {
      await removeResults(gen.id);
    } catch (error) {
      failures.push(error);
    }
    for (const name of gen.uploads) await uploads?.unmarkUsed(name, gen.id);
  }
  if (failures.length > 0) {
    throw new AggregateError(failures, `retention deleted ${deleted.length} generations, but the result files of ${failures.length} of them could not be removed`);
  }
  return deleted.map((gen) => gen.id);
}
