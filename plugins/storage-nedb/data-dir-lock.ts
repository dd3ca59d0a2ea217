import { randomUUID } from 'node:crypto';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { BootError } from '../../core/errors.js';
import { isAlive } from '../../lib/process-alive.js';

interface LockContent {
  pid: number;
  token: string;
  since: string;
}

/**
 * One process per data dir: two nedb processes appending to the same files corrupt them. The lock
 * file is written whole to a temp name and hard-linked into place, so it appears atomically and a
 * reader never sees half of it. A lock whose pid is dead is stale and taken over.
 */
export class DataDirLock {
  private constructor(
    readonly path: string,
    private readonly token: string,
  ) {}

  static async acquire(path: string, dataDir: string): Promise<DataDirLock> {
    const content: LockContent = { pid: process.pid, token: randomUUID(), since: new Date().toISOString() };
    const temp = `${path}.${content.token}.tmp`;
    await writeFile(temp, JSON.stringify(content));
    try {
      // Two tries: the second after removing a stale lock.
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          await link(temp, path);
          return new DataDirLock(path, content.token);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        const holder = await readLock(path);
        if (holder && isAlive(holder.pid)) {
          throw new BootError(
            `data dir ${dataDir} is in use by another comfy-bridge (pid ${holder.pid}, lock ${path}); ` +
              'stop it or give this one another dataDir',
          );
        }
        await unlink(path).catch(ignoreMissing);
      }
      throw new BootError(`data dir ${dataDir}: could not take the lock ${path} (another process keeps taking it)`);
    } finally {
      await unlink(temp).catch(ignoreMissing);
    }
  }

  /** Removes the lock file if it is still ours. */
  async release(): Promise<void> {
    const holder = await readLock(this.path);
    if (holder?.token === this.token) await unlink(this.path).catch(ignoreMissing);
  }
}

async function readLock(path: string): Promise<LockContent | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<LockContent>;
    if (typeof parsed.pid === 'number' && typeof parsed.token === 'string') return parsed as LockContent;
    return undefined;
  } catch {
    // Missing or unreadable: nobody we could wait for holds it.
    return undefined;
  }
}

function ignoreMissing(error: unknown): void {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
}
