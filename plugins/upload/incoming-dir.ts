import { readdir, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** Older than any upload request can last (its body and checks are bounded far below this): left by a dead process. */
export const ABANDONED_AFTER_MS = 60 * 60_000;

/**
 * Empties what requests of an earlier run left in the incoming folder. Alone on its data dir (nedb), a
 * process owns the whole folder: everything goes. In a fleet the folder is on the shared volume and other
 * instances' requests are writing there right now: only files older than ABANDONED_AFTER_MS go.
 */
export async function clearIncoming(dir: string, shared: boolean, now: number = Date.now()): Promise<void> {
  if (!shared) {
    await rm(dir, { recursive: true, force: true });
    return;
  }
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  for (const name of names) {
    const path = join(dir, name);
    const stats = await stat(path).catch(() => undefined);
    if (stats && now - stats.mtimeMs > ABANDONED_AFTER_MS) await rm(path, { recursive: true, force: true });
  }
}

/**
 * Deletes one file if it is still there. Most calls find it gone (moved into the store): one unlink says so,
 * where `rm(path, { force: true })` makes two lstat calls first (each a trip through libuv's thread pool).
 */
export async function removeFile(path: string): Promise<void> {
  await unlink(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}
