import { readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { GenerationState } from '../../contracts/generation.js';
import { syncDirectory } from '../../contracts/directory-sync.js';
import type { PrunedCounts, StateCounts } from './counters.js';
import type { NedbGenerationStore } from './generation-store.js';

/**
 * Earlier versions kept the generation counters in their own datafile, `db/counters.db`, written
 * beside every row (two appends and two fdatasyncs per state change). They now live in the
 * generations datafile (counters.ts). At the first start on such a data dir, what that file counted
 * beyond the rows held is written as a `$$pruned` line in the generations datafile, and then the
 * file is deleted. A crash anywhere in between repeats or finishes the step at the next start:
 * before the line is on disk, the counters file is read again; after it, the file is only deleted.
 */
export async function upgradeCounters(
  file: string,
  generations: NedbGenerationStore,
  pruned: PrunedCounts,
  log: { info(obj: object, msg: string): void },
): Promise<void> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (!pruned.sawLine) {
    const counted = lastCounters(text);
    await generations.adoptCounters(counted);
    log.info({ file }, `moved the generation counters from ${file} into the generations datafile`);
  }
  await rm(file, { force: true });
  await rm(`${file}~`, { force: true });
  // The deletion made durable where the file system can; the counters already live in the generations datafile.
  await syncDirectory(dirname(file), false).catch(() => undefined);
}

/** The counters row as the file last had it (nedb appends a whole row per change; a torn last line is skipped). */
function lastCounters(text: string): Partial<StateCounts> {
  let byState: Partial<StateCounts> = {};
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let doc: { _id?: unknown; $$deleted?: unknown; byState?: unknown };
    try {
      doc = JSON.parse(line) as typeof doc;
    } catch {
      continue;
    }
    if (doc === null || typeof doc !== 'object' || doc._id !== 'generations') continue;
    if (doc.$$deleted === true) byState = {};
    else if (doc.byState !== null && typeof doc.byState === 'object') byState = numbers(doc.byState as Record<string, unknown>);
  }
  return byState;
}

function numbers(raw: Record<string, unknown>): Partial<StateCounts> {
  const out: Partial<StateCounts> = {};
  for (const [state, n] of Object.entries(raw)) if (typeof n === 'number' && Number.isFinite(n)) out[state as GenerationState] = n;
  return out;
}
