import { close, closeSync, fdatasync, fsync, open, openSync } from 'node:fs';
import { promisify } from 'node:util';

const fsyncAsync = promisify(fsync);
const fdatasyncAsync = promisify(fdatasync);
const openAsync = promisify(open);
const closeAsync = promisify(close);

/**
 * A directory fsync refused because the file system cannot sync directories (some FUSE and SMB mounts): nothing
 * more can be done there, as PostgreSQL decides too (fsync_fname_ext ignores EBADF and EINVAL for directories).
 */
const CANNOT_SYNC_DIRECTORIES = new Set(['EBADF', 'EINVAL', 'EISDIR', 'ENOTSUP', 'EOPNOTSUPP']);

/**
 * Makes a directory's entries durable (the POSIX way: fsync of the directory itself), so that a file renamed into
 * it, or a folder made in it, is still there after a power loss. Only the fsync goes through libuv's thread pool (it
 * waits on the disk); on a local disk the open and close are made on the event loop (microseconds, no thread-pool
 * trip each); on a network volume every call is asynchronous (there the fsync is the NFS commit).
 */
export async function syncDirectory(dir: string, local: boolean): Promise<void> {
  await withDescriptor(dir, 'r', local, async (fd) => {
    try {
      await fsyncAsync(fd);
    } catch (error) {
      if (!CANNOT_SYNC_DIRECTORIES.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
    }
  });
}

/** A file's data made durable (fdatasync) through the thread pool, the file opened for it (read-write: some systems refuse a sync otherwise). */
export async function syncFileData(path: string, local: boolean): Promise<void> {
  await withDescriptor(path, 'r+', local, fdatasyncAsync);
}

/** `path` opened for `use` and closed after it: on the event loop on a local disk, through the thread pool elsewhere (syncDirectory). */
async function withDescriptor(path: string, flags: string, local: boolean, use: (fd: number) => Promise<void>): Promise<void> {
  const fd = local ? openSync(path, flags) : await openAsync(path, flags);
  try {
    await use(fd);
  } finally {
    if (local) closeSync(fd);
    else await closeAsync(fd);
  }
}

/** fdatasync of an open descriptor through the thread pool. */
export const datasync: (fd: number) => Promise<void> = fdatasyncAsync;

interface Pending {
  /** The fsync on its way. */
  running: Promise<void>;
  /** The next one, which every request made while `running` is on its way waits for (started when it ends). */
  next?: { promise: Promise<void>; start: () => void };
}

/**
 * Group commit of directory fsyncs. A request must be covered by an fsync that starts after it (the rename it
 * follows may have come after the running one began), so requests made while one is on its way share the next:
 * however many generations finish at once, a directory is synced at most twice in a row for them, not once each.
 */
export class DirectorySyncs {
  readonly #pending = new Map<string, Pending>();

  constructor(
    private readonly local: (dir: string) => boolean,
    /** The fsync itself (a test counts and holds them). */
    private readonly syncOne: (dir: string, local: boolean) => Promise<void> = syncDirectory,
  ) {}

  sync(dir: string): Promise<void> {
    const pending = this.#pending.get(dir);
    if (!pending) {
      const fresh = {} as Pending;
      this.#pending.set(dir, fresh);
      fresh.running = this.#run(dir, fresh);
      return fresh.running;
    }
    if (!pending.next) {
      let start!: () => void;
      const promise = new Promise<void>((resolve, reject) => {
        start = () => {
          pending.running = this.#run(dir, pending);
          pending.running.then(resolve, reject);
        };
      });
      pending.next = { promise, start };
    }
    return pending.next.promise;
  }

  #run(dir: string, pending: Pending): Promise<void> {
    // Through a settled promise so that `running` is set before the fsync's end is handled.
    return Promise.resolve()
      .then(() => this.syncOne(dir, this.local(dir)))
      .finally(() => {
        const next = pending.next;
        pending.next = undefined;
        if (next) next.start();
        else this.#pending.delete(dir);
      });
  }
}
