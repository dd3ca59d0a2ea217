import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobStore } from '../../contracts/blob-store.js';
import { onLocalDisk } from '../../contracts/local-disk.js';
import type { GenerationReader } from '../../contracts/visible-generation.js';
import { ResultLog, type LoggedBlob } from './result-log.js';

/** 8 MiB: eight 1 MiB results (the largest logged) waiting for their syncs at once, or hundreds of small ones. */
export const DEFAULT_LOG_BYTES = 8 * 1024 * 1024;

/**
 * The write-ahead log of results in `dataDir`, or none: when `bytes` is 0, when the data dir is not on a local disk
 * (putBytes streams there, the log would take nothing), and when the storage is shared by a fleet. There several
 * instances would share one results folder, and a starting instance may only replay the logs no live instance owns;
 * Node has no file lock (flock) to tell, and a lease per log is not built: a fleet keeps syncing each file before its
 * row (docs/performance.md, "Results through a log, wave 12"). With storage-nedb the data dir lock (db/LOCK) makes
 * this process the data dir's only one, so the one log there is this process's, and what it holds at start was left
 * by a process that is gone.
 */
export function resultLogFor(dataDir: string, bytes: number, shared: boolean): ResultLog | undefined {
  if (bytes === 0 || shared || !onLocalDisk(dataDir)) return undefined;
  return new ResultLog(join(dataDir, 'results.wal'), bytes);
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
