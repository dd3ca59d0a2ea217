import { execFile } from 'node:child_process';
import { mkdtemp, open, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A real, small filesystem (tmpfs) that a test can fill up to get real ENOSPC errors. */
export interface SmallDisk {
  dir: string;
  /** Writes a filler file until the disk refuses with ENOSPC. */
  fill(): Promise<void>;
  /** Removes the filler. */
  free(): Promise<void>;
  /** Remounts the filesystem read-only (what a failing disk or a wrong mount leaves). */
  readOnly(): Promise<void>;
  /** Unmounts and removes the mount point. */
  release(): Promise<void>;
}

/**
 * Mounts a tmpfs of `size` (e.g. "1m") on a fresh temp dir. Needs root (CAP_SYS_ADMIN); the
 * project's CI and dev machines run the suite as root.
 */
export async function mountSmallDisk(size: string): Promise<SmallDisk> {
  const dir = await mkdtemp(join(tmpdir(), 'small-disk-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`this test mounts a tmpfs and needs root: ${(error as Error).message}`, { cause: error });
  }
  const filler = join(dir, 'filler');
  return {
    dir,
    async fill() {
      const handle = await open(filler, 'a');
      const block = Buffer.alloc(4096, 1);
      try {
        for (;;) await handle.write(block);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
      } finally {
        await handle.close();
      }
    },
    async free() {
      await unlink(filler).catch(() => undefined);
    },
    async readOnly() {
      await run('mount', ['-o', 'remount,ro', dir]);
    },
    async release() {
      await run('umount', ['-l', dir]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
