import { randomBytes } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isBlobKey, isBlobPrefix, type BlobInfo, type BlobSource, type BlobStore, type ByteRange } from './blob-store.js';
import { datasync, DirectorySyncs, syncFileData } from './directory-sync.js';
import { onLocalDisk } from './local-disk.js';

export interface DirectoryBlobStoreOptions {
  /**
   * Make every blob durable before its put resolves (default true): the file's data (fdatasync) and its name (an
   * fsync of its folder, and of the folder's parent when the put made the folder). false only where the storage
   * itself does not sync its rows (storage-nedb `syncWrites: false`, `inMemory`): a file that survives a power
   * loss its row does not buys nothing.
   */
  sync?: boolean;
  /**
   * Where putBytes makes a small blob's bytes durable first (results' write-ahead log): the file itself is then
   * synced later, off the caller's way, and the log's record released after that. Only with `sync` and on a local disk.
   */
  log?: BytesLog;
  /**
   * How long after the first file whose bytes the log holds its own syncs are made (default 10 ms). Not at once: a
   * new file's syncs commit ext4's journal, and would run beside the row's own fdatasync that follows the put and
   * slow it (a trace had it 0.67 ms instead of 0.42); files of generations ending meanwhile share the batch's
   * journal commit. Longer, the log keeps more records pending (it refuses appends once full: files synced before
   * rows then). The tests that kill a bridge between the log's sync and the files' set it to an hour.
   */
  laterSyncsAfterMs?: number;
}

/**
 * A write-ahead log of blobs' bytes, in space written and synced ahead (plugins/results/result-log.ts): one append
 * and its fdatasync cost no journal commit where a new file's fdatasync and its folder's fsync do.
 */
export interface BytesLog {
  /**
   * Appends the blob under its key and syncs it. The record is written before append returns (only its sync is
   * awaited), so the store makes the file while the sync runs. Resolves with the record's release (to call once the
   * file itself is durable), or undefined when the log cannot take it (no room, not open, a failed write): the store
   * then syncs the file itself before its put resolves, as without a log.
   */
  append(key: string, bytes: Uint8Array): Promise<(() => void) | undefined>;
}

/** The files a log holds are synced this long after the first of them (option laterSyncsAfterMs). */
const LATER_SYNCS_AFTER_MS = 10;

/** A file whose sync failed is written again from its bytes this long after (and so on until it is durable). */
const REWRITE_AFTER_MS = 1000;

/** A file whose bytes a log holds, waiting for its own syncs (data, then name). */
interface SyncLater {
  /** -1 once closed (a failed sync: the file is then written again from `bytes`). */
  fd: number;
  path: string;
  made: string | undefined;
  bytes: Uint8Array;
  release: () => void;
}

/**
 * The built-in blob store (results and uploads fall back to it when no `blobs` plugin is enabled): a
 * directory (the data dir), a key being a relative path. Every instance of a
 * fleet mounts the same directory at the same path. A blob is written to a temporary name beside its
 * place and renamed into it, so a reader on any instance sees the whole file or none (POSIX rename is
 * atomic within one file system, NFS included); a failed write leaves nothing. Temporary names start
 * with a dot, which no key may, so `list` never returns one.
 *
 * A put makes as few file-system calls as it can (each is a trip through libuv's thread pool on a
 * generation's way to `closed`): its folder is created only when the temporary file cannot be opened
 * for want of it (results' copy makes it beforehand with `resetPrefix`: one mkdir per generation), and
 * its size is the bytes written, not a stat after the rename.
 *
 * Durable before acknowledged (option `sync`, on unless the storage does not sync either): a put resolves once the
 * blob's bytes and its name are on the disk, as PostgreSQL makes a file durable — fdatasync of the file, fsync of
 * its folder after the rename, and fsync of the parent of a folder the put (or resetPrefix) made. A crash can then
 * never leave a row naming a file that is empty or gone (the caller writes its row after the put). Folder fsyncs
 * are group-committed (DirectorySyncs): concurrent generations' folders made in `results/` share one.
 */
export class DirectoryBlobStore implements BlobStore {
  /** Temporary names: a random stem per store and a counter (unique across the fleet's instances). */
  readonly #tempStem = randomBytes(6).toString('hex');
  #temps = 0;
  /** Whether the root is on a local disk (putBytes' synchronous calls), told at the first putBytes. */
  #local: boolean | undefined;
  readonly #sync: boolean;
  readonly #folders = new DirectorySyncs(() => this.#onLocalDisk());
  readonly #log: BytesLog | undefined;
  readonly #laterSyncsAfterMs: number;
  /** Files whose bytes the log holds, their own syncs not made yet (syncLater). */
  #later: SyncLater[] = [];
  /** Files whose own sync failed: written again later (rewrite), their records held meanwhile. */
  #failed: SyncLater[] = [];
  /** The drain to come, while it waits. */
  #drainTimer: NodeJS.Timeout | undefined;
  /** The syncs of `#later` on their way, while they are. */
  #draining: Promise<void> | undefined;

  constructor(
    readonly root: string,
    options: DirectoryBlobStoreOptions = {},
  ) {
    this.#sync = options.sync ?? true;
    this.#log = this.#sync ? options.log : undefined;
    this.#laterSyncsAfterMs = options.laterSyncsAfterMs ?? LATER_SYNCS_AFTER_MS;
  }

  /** A fresh temporary name in `folder` (hidden, this store's own stem): a file is written there, then renamed. */
  #tempIn(folder: string): string {
    this.#temps += 1;
    return join(folder, `.${this.#tempStem}-${this.#temps.toString(36)}.tmp`);
  }

  #onLocalDisk(): boolean {
    return (this.#local ??= onLocalDisk(this.root));
  }

  async put(key: string, source: BlobSource): Promise<BlobInfo> {
    const path = this.localPath(key);
    const folder = dirname(path);
    const givenUp = 'file' in source && source.move === true ? source : undefined;
    // A file given up by its caller, on this file system: renamed into place (atomic too), no copy; no stat when the caller told its size.
    const moved = givenUp ? await this.#moveIn(givenUp.file, folder, path) : false;
    if (givenUp && moved) {
      if (this.#sync) await this.#durable(path, moved.made, givenUp.synced === true);
      return givenUp.size === undefined ? (await this.stat(key))! : { key, size: givenUp.size, modifiedAt: new Date() };
    }
    const temp = this.#tempIn(folder);
    const input: Readable = 'file' in source && typeof source.file === 'string' ? createReadStream(source.file) : (source as Readable);
    let created: Created;
    try {
      created = await this.#createIn(folder, temp);
    } catch (error) {
      input.destroy();
      throw error;
    }
    const { handle } = created;
    let size: number;
    let renamed = false;
    try {
      // flush: the stream syncs the file (fsync) before it closes it; the pipeline resolves after that.
      const output = createWriteStream(temp, { fd: handle, flush: this.#sync });
      await pipeline(input, output);
      size = output.bytesWritten;
      await rename(temp, path);
      renamed = true;
      if (this.#sync) await this.#durableName(path, created.made);
    } catch (error) {
      await handle.close().catch(() => undefined);
      await rm(renamed ? path : temp, { force: true }).catch(() => undefined);
      throw error;
    }
    // A moved file that had to be copied (another file system): gone from its path all the same, as promised.
    if (givenUp) await rm(givenUp.file, { force: true });
    return { key, size, modifiedAt: new Date() };
  }

  /**
   * A small blob whole in memory: open, write, close and rename made synchronously, on the event loop.
   * Each is a few microseconds of the kernel's page cache (tens on a busy machine); through libuv's
   * thread pool each costs a hop to a thread and back, which on a generation's way to `closed` is
   * most of the copy's time (docs/performance.md, "A generation's life, wave 5"). Callers keep it
   * for small blobs (results copies up to 1 MiB): a large write would hold the event loop. Only on a
   * local disk: on a network volume (a fleet's shared NFS mount, say) one slow call would stall every
   * request and socket of the process, so there it is a put like any other.
   */
  async putBytes(key: string, bytes: Uint8Array): Promise<BlobInfo> {
    if (!this.#onLocalDisk()) return this.put(key, Readable.from([bytes]));
    const path = this.localPath(key);
    const folder = dirname(path);
    const temp = this.#tempIn(folder);
    // With a log: the record written now (append writes it before it returns) and synced while the file is made
    // beside it; its fdatasync has no journal commit to wait for (zeros written ahead), the file's own syncs are made later.
    const logged = this.#log?.append(key, bytes);
    // A file not made: its record, synced or not, released (no row will name it).
    const dropLogged = () => void logged?.then((release) => release?.());
    let fd: number;
    let made: string | undefined;
    try {
      try {
        fd = openSync(temp, 'wx');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        made = mkdirSync(folder, { recursive: true }) ?? folder;
        fd = openSync(temp, 'wx');
      }
    } catch (error) {
      dropLogged();
      throw error;
    }
    let renamed = false;
    try {
      writeAll(fd, bytes);
      renameSync(temp, path);
      renamed = true;
      const release = await logged;
      if (release) {
        this.#syncLater({ fd, path, made, bytes, release });
      } else {
        // No log, or it could not take the bytes. One after the other, not at once: each sync holds one of libuv's
        // four threads while it waits on the disk (eight generations ending together would hold them all), and the
        // folder's fsync after the file's finds the journal committed already on ext4 (0.2 ms where the file's
        // costs 1.2: bench/floors.ts).
        if (this.#sync) {
          await datasync(fd);
          await this.#durableName(path, made);
        }
        closeSync(fd);
      }
      fd = -1;
    } catch (error) {
      if (fd !== -1) tryQuietly(() => closeSync(fd));
      tryQuietly(() => rmSync(renamed ? path : temp, { force: true }));
      dropLogged();
      throw error;
    }
    return { key, size: bytes.length, modifiedAt: new Date() };
  }

  /**
   * A file whose bytes the log holds, made durable off its put's way: its data, then its name, and then its record
   * released. One file at a time (each sync holds one of libuv's four threads while it waits on the disk, and the
   * log's and the rows' own syncs need them more); the folder syncs of a batch are group-committed.
   */
  #syncLater(file: SyncLater): void {
    this.#later.push(file);
    this.#drainIn(this.#laterSyncsAfterMs);
  }

  /** A drain in `ms`, unless one is on its way or waiting (it takes what comes meanwhile). */
  #drainIn(ms: number): void {
    if (this.#draining || this.#drainTimer) return;
    this.#drainTimer = setTimeout(() => this.#drainNow(), ms);
    // Never what keeps a process alive: settled() drains at once before the log closes.
    this.#drainTimer.unref();
  }

  #drainNow(): Promise<void> {
    clearTimeout(this.#drainTimer);
    this.#drainTimer = undefined;
    return (this.#draining ??= this.#drain().finally(() => {
      this.#draining = undefined;
      if (this.#later.length > 0 || this.#failed.length > 0) this.#drainIn(this.#later.length > 0 ? this.#laterSyncsAfterMs : REWRITE_AFTER_MS);
    }));
  }

  async #drain(): Promise<void> {
    // Files whose sync failed before: written again (each failure keeps its record, so the log keeps its bytes).
    for (const file of this.#failed.splice(0)) await this.#rewrite(file);
    while (this.#later.length > 0) {
      const batch = this.#later.splice(0);
      const synced: SyncLater[] = [];
      for (const file of batch) {
        try {
          await datasync(file.fd);
          synced.push(file);
        } catch {
          // Not synced: its record stays (the log keeps its bytes) until the file is written again.
          this.#failed.push(file);
        } finally {
          tryQuietly(() => closeSync(file.fd));
          file.fd = -1;
        }
      }
      await Promise.all(
        synced.map((file) =>
          this.#durableName(file.path, file.made).then(file.release, (error: NodeJS.ErrnoException) => {
            // Its folder removed meanwhile (the generation's copy failed, retention): nothing left to keep.
            if (error.code === 'ENOENT') file.release();
            else this.#failed.push(file);
          }),
        ),
      );
    }
  }

  /**
   * A file whose own sync failed, made durable anew: written to a temporary name from its bytes, synced, renamed
   * over, its folder synced; then its record is released. Not a second fdatasync of the same file: after a failed
   * one Linux may have marked the unwritten pages clean, and the next would succeed without writing them. A file
   * gone or holding other bytes (its generation removed, or copied again: that put has its own record) is left as
   * it is, and its record released. When it fails again it is tried again later.
   */
  async #rewrite(file: SyncLater): Promise<void> {
    const onDisk = await readFile(file.path).catch(() => undefined);
    if (!onDisk?.equals(file.bytes)) {
      file.release();
      return;
    }
    const temp = this.#tempIn(dirname(file.path));
    let fd = -1;
    try {
      fd = openSync(temp, 'wx');
      writeAll(fd, file.bytes);
      await datasync(fd);
      renameSync(temp, file.path);
      await this.#durableName(file.path, file.made);
      file.release();
    } catch {
      tryQuietly(() => rmSync(temp, { force: true }));
      this.#failed.push(file);
    } finally {
      if (fd !== -1) tryQuietly(() => closeSync(fd));
    }
  }

  /**
   * Resolves once every file whose bytes the log held is synced, at once (the delay not waited out), those whose
   * sync had failed written once more: before the log closes. One whose sync fails now is written again a second
   * later; its record is kept meanwhile (a restart replays it).
   */
  async settled(): Promise<void> {
    do await this.#drainNow();
    while (this.#later.length > 0);
  }

  /**
   * Renames `file` to `path`, creating the folder only when it is missing; false when it cannot (another file
   * system): copy then. Moved: `{ made }`, the first folder the move had to create, if any.
   */
  async #moveIn(file: string, folder: string, path: string): Promise<false | { made: string | undefined }> {
    // undefined: the folder is missing (ENOENT); false: any other refusal (EXDEV: not this file system).
    const moved = (): Promise<boolean | undefined> => rename(file, path).then(() => true, (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : false));
    const first = await moved();
    if (first !== undefined) return first && { made: undefined };
    const made = (await mkdir(folder, { recursive: true })) ?? folder;
    return (await moved()) ? { made } : false;
  }

  /** Opens a new temporary file in `folder`, creating the folder only when it is missing (`made`: the first folder created). */
  async #createIn(folder: string, temp: string): Promise<Created> {
    try {
      return { handle: await open(temp, 'wx'), made: undefined };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const made = (await mkdir(folder, { recursive: true })) ?? folder;
    return { handle: await open(temp, 'wx'), made };
  }

  /** A file moved into place made durable: its data (unless its writer synced it), then its name (as putBytes). */
  async #durable(path: string, made: string | undefined, dataSynced: boolean): Promise<void> {
    if (!dataSynced) await syncFileData(path, this.#onLocalDisk());
    await this.#durableName(path, made);
  }

  /**
   * The name of the file at `path` made durable: its folder synced, and when a put made folders (`made`, the first
   * of them, up to the file's own folder), each one's entry in its parent too.
   */
  async #durableName(path: string, made: string | undefined): Promise<void> {
    await Promise.all(this.#madeEntries(dirname(path), made).map((folder) => this.#folders.sync(folder)));
  }

  /** `folder` and, when folders from `made` down to it were just created, the parent of each. */
  #madeEntries(folder: string, made: string | undefined): string[] {
    const folders = [folder];
    if (made === undefined) return folders;
    for (let at = folder; ; at = dirname(at)) {
      folders.push(dirname(at));
      if (at === made || dirname(at) === at) return folders;
    }
  }

  read(key: string, range?: ByteRange): Readable {
    return createReadStream(this.localPath(key), range ? { start: range.start, end: range.end } : {});
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    const stats = await stat(this.localPath(key)).catch(() => undefined);
    return stats?.isFile() ? { key, size: stats.size, modifiedAt: stats.mtime } : undefined;
  }

  async delete(key: string): Promise<void> {
    await rm(this.localPath(key), { force: true });
  }

  async deletePrefix(prefix: string): Promise<void> {
    const path = this.#prefixPath(prefix);
    // Usually nothing is there (a generation's first copy): one lstat says so, where rm makes two.
    if ((await lstat(path).catch(() => undefined)) !== undefined) await rm(path, { recursive: true, force: true });
  }

  /** Usually nothing is there (a generation's first copy): one mkdir makes its empty folder. */
  async resetPrefix(prefix: string): Promise<void> {
    const path = this.#prefixPath(prefix);
    let made: string;
    try {
      await mkdir(path);
      made = path;
    } catch (error) {
      const { code } = error as NodeJS.ErrnoException;
      if (code === 'ENOENT') {
        made = (await mkdir(path, { recursive: true })) ?? path; // its parent (results/) is new
      } else {
        if (code !== 'EEXIST') throw error;
        await rm(path, { recursive: true, force: true });
        made = (await mkdir(path, { recursive: true })) ?? path;
      }
    }
    // The folder's entry in its parent, durable before any put in it resolves (concurrent generations share one fsync).
    if (this.#sync) await Promise.all(this.#madeEntries(path, made).slice(1).map((folder) => this.#folders.sync(folder)));
  }

  async list(prefix: string): Promise<BlobInfo[]> {
    const base = this.#prefixPath(prefix);
    const entries = await readdir(base, { recursive: true, withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return [];
      throw error;
    });
    const keys = entries
      .filter((entry) => entry.isFile())
      .map((entry) => relative(this.root, join(entry.parentPath, entry.name)).split(sep).join('/'))
      .filter(isBlobKey)
      .sort();
    const infos = await Promise.all(keys.map((key) => this.stat(key)));
    return infos.filter((info): info is BlobInfo => info !== undefined);
  }

  localPath(key: string): string {
    if (!isBlobKey(key)) throw Object.assign(new Error(`not a blob key: ${JSON.stringify(key)}`), { code: 'EINVAL' });
    return join(this.root, ...key.split('/'));
  }

  #prefixPath(prefix: string): string {
    if (!isBlobPrefix(prefix)) throw Object.assign(new Error(`not a blob prefix: ${JSON.stringify(prefix)}`), { code: 'EINVAL' });
    return join(this.root, ...prefix.slice(0, -1).split('/'));
  }
}

interface Created {
  handle: FileHandle;
  /** The first folder made to hold the file, if any. */
  made: string | undefined;
}

/** A clean-up step after a failure: its own failure must not hide the first. */
function tryQuietly(step: () => void): void {
  try {
    step();
  } catch {
    // the first error is what the caller reports
  }
}

/** Writes all of `bytes` at the descriptor's position (a write may take fewer). */
function writeAll(fd: number, bytes: Uint8Array): void {
  for (let written = 0; written < bytes.length; ) written += writeSync(fd, bytes, written, bytes.length - written);
}
