import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobStore } from '../../contracts/blob-store.js';
import { onLocalDisk } from '../../contracts/local-disk.js';
import type { GenerationReader } from '../../contracts/visible-generation.js';
import { instanceLogName } from './fleet-logs.js';
import { ResultLog, type LoggedBlob } from './result-log.js';

/** 8 MiB: eight 1 MiB results (the largest logged) waiting for their syncs at once, or hundreds of small ones. */
export const DEFAULT_LOG_BYTES = 8 * 1024 * 1024;

/**
 * The write-ahead log of results in `dataDir`, or none: when `bytes` is 0, and when the data dir is not on a local
 * disk (putBytes streams there, the log would take nothing). With storage-nedb the data dir lock (db/LOCK) makes this
 * process the data dir's only one, so the one log there (`results.wal`) is this process's, and what it holds at start
 * was left by a process that is gone. When the storage is shared by a fleet, several instances share the results
 * folder: each has a log of its own under a fresh name (fleet-logs.ts), held for the process's life through the
 * storage's `processLocks`; a storage shared without them gets no log (each file synced before its row).
 */
export function resultLogFor(dataDir: string, bytes: number, fleet: { shared: boolean; canHoldNames: boolean }): ResultLog | undefined {
  if (bytes === 0 || (fleet.shared && !fleet.canHoldNames) || !onLocalDisk(dataDir)) return undefined;
  return new ResultLog(join(dataDir, fleet.shared ? instanceLogName() : 'results.wal'), bytes);
}

/**
 * What replay does with a record: the file is rewritten (write-temp, rename, syncs: the store's putBytes while the
 * log takes no appends) when a row names it with these bytes' SHA-256 and the file on the disk is missing or differs.
 * A record no row names (the process died before the row was written, the generation was removed since, or copied
 * again with other bytes) is left alone: nothing was promised for it.
 */
export function restoreNamed(generations: Pick<GenerationReader, 'get'>, blobs: BlobStore): (blob: LoggedBlob) => Promise<boolean> {
  return async ({ key, bytes }) => {
    const [top, id, filename, ...rest] = key.split('/');
    if (top !== 'results' || id === undefined || filename === undefined || rest.length > 0) return false;
    const gen = await generations.get(id);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (!gen?.results.some((result) => result.filename === filename && result.sha256 === sha256)) return false;
    const path = blobs.localPath?.(key);
    const onDisk = path === undefined ? undefined : await readFile(path).catch(() => undefined);
    if (onDisk?.equals(bytes)) return false;
    await blobs.putBytes!(key, bytes);
    return true;
  };
}
