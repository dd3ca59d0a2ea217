import { constants, writeSync } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { storageUnavailable } from './storage-unavailable.js';
import { endOfData, tailBytesFor, writeZeros } from './datafile-tail.js';
import { syncDirectory } from '../../contracts/directory-sync.js';
import { markLife } from '../../contracts/life-marks.js';

/** Puts back an in-memory change whose line could not be written. */
export type Undo = () => void;

/** The file operations the appender makes, replaceable in tests to inject a failing disk. */
export interface AppenderIo {
  write(handle: FileHandle, data: Buffer, position: number): Promise<number>;
  datasync(handle: FileHandle): Promise<void>;
}

/**
 * The write copies the batch into the page cache (microseconds, and a few KiB at most per batch),
 * done on the event loop: through libuv's thread pool it cost about ten times the CPU (22-37 µs
 * against 2.5-3.5 µs per pwrite of 1.5 KB here) and a wake-up of the loop. The fdatasync, which
 * waits for the disk, stays in the thread pool.
 */
const realIo: AppenderIo = {
  write: (handle, data, position) => Promise.resolve(writeSync(handle.fd, data, 0, data.length, position)),
  datasync: (handle) => handle.datasync(),
};

export interface AppenderOptions {
  /** fdatasync after every batch, so a resolved write survives a power loss, not only a crash. */
  sync: boolean;
  io?: AppenderIo;
  /** How long a lazy batch may stay in the file without an fdatasync (LAZY_SYNC_MS); tests shorten it. */
  lazySyncMs?: number;
}

/**
 * A lazy batch (push with `durable` false) is synced by the next durable batch's fdatasync, which
 * covers every byte written before it, or after this long when none comes: PostgreSQL's asynchronous
 * commit and its wal_writer_delay (200 ms), for changes no one waits for (docs/performance.md, wave 8).
 */
export const LAZY_SYNC_MS = 200;

/** After an extension of the tail failed (a full disk), how long before the next is tried. */
const EXTEND_RETRY_MS = 5000;

/**
 * What a push returns: settled once its batch is written (and synced with `sync`), or refused; `inFile`
 * resolves as soon as the batch is in the file, before its fdatasync (a kill of the process can no
 * longer lose it; a power loss still can), and never for a refused batch.
 */
export type PendingWrite = Promise<void> & { readonly inFile: Promise<void> };

interface Batch {
  lines: string;
  undo: Undo[];
  count: number;
  /** A push asked for it to be on the disk (fdatasync) before it resolves; else it resolves once in the file. */
  durable: boolean;
  done: PendingWrite;
  settle: (error?: unknown) => void;
  /** Resolves done.inFile. */
  inFile: () => void;
}

function newBatch(): Batch {
  let settle!: (error?: unknown) => void;
  let inFile!: () => void;
  const written = new Promise<void>((resolve) => (inFile = resolve));
  const done = Object.assign(
    new Promise<void>((resolve, reject) => {
      settle = (error?: unknown) => {
        if (error === undefined) inFile();
        if (error === undefined) resolve();
        else reject(error as Error);
      };
    }),
    { inFile: written },
  );
  // A batch nobody awaits (an index line written at open) must not become an unhandled rejection.
  done.catch(() => undefined);
  return { lines: '', undo: [], count: 0, durable: false, done, settle, inFile };
}

/** Appends `later` to `first`: one batch whose settlement also settles the one it absorbed. */
function merge(first: Batch, later: Batch | null): Batch {
  if (later === null) return first;
  first.lines += later.lines;
  first.undo.push(...later.undo);
  first.count += later.count;
  first.durable ||= later.durable;
  first.done.then(
    () => later.settle(),
    (error: unknown) => later.settle(error),
  );
  return first;
}

/**
 * The writer of one nedb datafile, kept open for the life of the store.
 *
 * Group commit: lines handed in while a write is on its way are written together by the next one
 * (one `pwrite` and, with `sync`, one `fdatasync` per batch), in the order they were made; each
 * push's promise resolves once its batch is in the file (and on the disk with `sync`).
 *
 * Lazy pushes (`durable` false: changes nobody waits for) resolve once their batch is in the file, where
 * a kill of the process cannot lose them; the fdatasync of the next durable batch, which covers every
 * byte written before it, puts them on the disk, or one of their own LAZY_SYNC_MS later. A lazy push that
 * shares a batch with a durable one resolves with it, after the fdatasync.
 *
 * The zeroed tail (datafile-tail.ts): batches are written at #offset, into zeros already written and
 * synced, so the file's size does not change and an fdatasync needs no journal commit. When less than
 * half an extension is left, zeros are added past the end (one write and an fdatasync) beside the
 * batches, which never wait for it unless one does not fit in what is left; a batch longer than the
 * tail is appended past it as before.
 *
 * Failure: a batch is written whole or not at all: when a write fails (ENOSPC, EIO, EROFS) the file
 * is cut back to where the batch began (what it wrote into the tail is zeroed again, what it wrote
 * past the tail is truncated away), and that batch and every batch queued behind it are
 * refused, with their in-memory changes undone newest first. The lines queued behind a failed one
 * were made on top of its changes (nedb writes whole rows), so writing them later would persist
 * what was refused. Nothing refused is kept to be written at the next flush or at close.
 *
 * Compaction rewrites the file from a snapshot of memory, and a zeroed tail, into a temporary file and
 * renames it over the datafile; the handle is then reopened on the new file (an open handle would keep
 * writing to the replaced one).
 */
export class DatafileAppender {
  #next: Batch | null = null;
  #inFlight: Batch | null = null;
  /** Where the next batch goes: the end of what was written successfully (the logical end of the file). */
  #offset: number;
  /** The file's length: the bytes from #offset to here are zeros (the tail). */
  #end: number;
  /** The extension of the tail on its way (zeros written past #end, then an fdatasync), or null. */
  #extending: Promise<void> | null = null;
  /** After an extension failed (a full disk), none before this time (ms): not one at every batch. */
  #extendAfter = 0;
  /** A failed write left this many bytes from #offset on that a cut-back could not clear yet. */
  #dirty = 0;
  #compacting = false;
  #closed = false;
  #stopCompaction = false;
  /** Lines written since the last compaction (a measure of how much a compaction would reclaim). */
  #appended = 0;
  /** Lazy lines are in the file but no fdatasync has covered them yet. */
  #unsynced = false;
  /** The fdatasync due for lazy lines no durable batch covered (LAZY_SYNC_MS). */
  #lazySync: NodeJS.Timeout | null = null;
  readonly #io: AppenderIo;
  /** The datafile's name in the lifecycle marks (contracts/life-marks.ts). */
  readonly #name: string;

  private constructor(
    readonly filename: string,
    private readonly mode: number,
    private readonly options: AppenderOptions,
    private handle: FileHandle,
    logical: number,
    size: number,
  ) {
    this.#offset = logical;
    this.#end = Math.max(size, logical);
    this.#io = options.io ?? realIo;
    this.#name = basename(filename);
  }

  /**
   * Opens the datafile; `logicalEnd` is where its lines end (what the load read: the last "\n" before
   * the first NUL), else the last byte that is not zero. A file without a tail (new, written by an older
   * version, or cut by the repair of a torn line) gets one before this resolves: one write of zeros and an
   * fdatasync, at start only, where nothing waits on it.
   */
  static async open(filename: string, mode: number, options: AppenderOptions, logicalEnd?: number): Promise<DatafileAppender> {
    const appender = await DatafileAppender.#openAt(filename, mode, options, logicalEnd);
    appender.#maybeExtend();
    await appender.#extending;
    return appender;
  }

  static async #openAt(filename: string, mode: number, options: AppenderOptions, logicalEnd?: number): Promise<DatafileAppender> {
    const handle = await open(filename, constants.O_RDWR | constants.O_CREAT, mode);
    try {
      const { size } = await handle.stat();
      const logical = logicalEnd ?? (await endOfData(handle, size));
      // Only zeros may follow the lines: bytes a power loss left past a hole (lazy lines never synced) are
      // cleared, or a batch written before them would be read on with them.
      const stray = await endOfData(handle, size, logical);
      if (stray > logical) {
        await writeZeros(handle, logical, stray - logical);
        await handle.datasync();
      }
      return new DatafileAppender(filename, mode, options, handle, logical, size);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /**
   * Adds zeros past the end of the file when less than half an extension is left, beside the batches
   * (they write below #end meanwhile; one that would pass it waits for this first). Not while compacting
   * (the handle is about to change) nor closing.
   */
  #maybeExtend(): void {
    if (this.#extending || this.#compacting || this.#closed || this.#dirty > 0) return;
    const bytes = tailBytesFor(this.#offset);
    if (this.#end - this.#offset >= bytes / 2 || Date.now() < this.#extendAfter) return;
    const from = this.#end;
    const handle = this.handle;
    this.#extending = (async () => {
      try {
        await writeZeros(handle, from, bytes);
        await handle.datasync();
        this.#end = from + bytes;
        markLife('append: tail extended', this.#name);
      } catch {
        // A full disk: batches append past the end as before; zeros it took are given back.
        await handle.truncate(from).catch(() => undefined);
        this.#extendAfter = Date.now() + EXTEND_RETRY_MS;
      } finally {
        this.#extending = null;
      }
    })();
  }

  /** Lines appended since the last compaction (or the open). */
  get appendedLines(): number {
    return this.#appended;
  }

  /** Bytes of lines in the datafile that were written successfully (its logical size, without the tail). */
  get size(): number {
    return this.#offset;
  }

  /** Bytes of zeros after the lines, where the next batches go. */
  get tailBytes(): number {
    return this.#end - this.#offset;
  }

  /**
   * Queues `lines` (each ending in "\n") with the undo of the in-memory changes they record.
   * Resolves once they are written; rejects with a 503 `storage_unavailable` when they never will be.
   * `durable` false: resolved once in the file, synced later (see the class comment).
   */
  push(lines: string, undo: Undo[], count: number, durable = true): PendingWrite {
    if (this.#closed) {
      for (let i = undo.length - 1; i >= 0; i--) undo[i]!();
      return pending(Promise.reject(storageUnavailable(new Error('the data store is closed'), 'the data store is closed')));
    }
    if (lines.length === 0) return pending(Promise.resolve());
    const start = this.#next === null && this.#inFlight === null && !this.#compacting;
    const batch = (this.#next ??= newBatch());
    batch.lines += lines;
    batch.undo.push(...undo);
    batch.count += count;
    batch.durable ||= durable;
    if (start) void this.#drain();
    return batch.done;
  }

  /** Lazy lines no durable batch has covered: an fdatasync of its own (an empty durable batch). */
  #syncLazy(): void {
    this.#lazySync = null;
    if (!this.#unsynced || this.#closed) return;
    const start = this.#next === null && this.#inFlight === null && !this.#compacting;
    (this.#next ??= newBatch()).durable = true;
    if (start) void this.#drain();
  }

  /** Resolves when everything pushed so far is settled (written or refused). */
  async settled(): Promise<void> {
    while (this.#next ?? this.#inFlight) await (this.#inFlight ?? this.#next)!.done.catch(() => undefined);
  }

  async #drain(): Promise<void> {
    // Let the changes made in the current tick join the first batch.
    await Promise.resolve();
    while (this.#next && !this.#compacting) {
      const batch = (this.#inFlight = this.#next);
      this.#next = null;
      try {
        await this.#write(batch.lines, batch.inFile, batch.durable);
        this.#appended += batch.count;
        this.#inFlight = null;
        batch.settle();
      } catch (error) {
        // Refuse this batch and everything queued behind it, undoing their changes newest first.
        const refused = merge(batch, this.#next);
        this.#next = null;
        this.#inFlight = null;
        for (let i = refused.undo.length - 1; i >= 0; i--) refused.undo[i]!();
        refused.settle(storageUnavailable(error));
      }
    }
    this.#inFlight = null;
  }

  async #write(lines: string, inFile: () => void, durable: boolean): Promise<void> {
    if (this.#dirty > 0) await this.#cutBack(this.#dirty);
    const data = Buffer.from(lines, 'utf8');
    // Past the tail while zeros are being added there: wait for them (rare: extended at half left).
    if (this.#offset + data.length > this.#end && this.#extending) await this.#extending;
    let written = 0;
    try {
      while (written < data.length) {
        written += await this.#io.write(this.handle, data.subarray(written), this.#offset + written);
      }
      if (data.length > 0) markLife('append: pwrite', this.#name);
      inFile();
      // (O_DSYNC — the write synced by the kernel, one call instead of two — measured slower on
      // this ext4: 0.5-1.2 ms per write against 0.2-1.0 ms for a write and an fdatasync.)
      if (this.options.sync && durable) {
        markLife('append: fdatasync', this.#name);
        // Covers the lazy lines written before this batch too: they need no fdatasync of their own now.
        const covered = this.#unsynced;
        this.#unsynced = false;
        try {
          await this.#io.datasync(this.handle);
        } catch (error) {
          this.#unsynced ||= covered;
          throw error;
        }
        if (!this.#unsynced && this.#lazySync) {
          clearTimeout(this.#lazySync);
          this.#lazySync = null;
        }
        markLife('append: synced', this.#name);
      } else if (this.options.sync && data.length > 0) {
        this.#unsynced = true;
        this.#lazySync ??= setTimeout(() => this.#syncLazy(), this.options.lazySyncMs ?? LAZY_SYNC_MS).unref();
      }
    } catch (error) {
      // Cut the file back so no part of the refused batch stays (a restart must not read it).
      await this.#cutBack(data.length).catch(() => undefined);
      throw error;
    }
    this.#offset += data.length;
    this.#end = Math.max(this.#end, this.#offset);
    this.#maybeExtend();
  }

  /**
   * Clears the `length` bytes a refused batch may have written from #offset on: zeros again inside the
   * tail (its blocks stay allocated, so a full disk has no room to take back), truncated away past it.
   * Left to the next write (#dirty) when the disk refuses this too.
   */
  async #cutBack(length: number): Promise<void> {
    this.#dirty = length;
    await this.#extending;
    await this.handle.truncate(Math.max(this.#end, this.#offset));
    if (this.#end > this.#offset) await writeZeros(this.handle, this.#offset, Math.min(length, this.#end - this.#offset));
    this.#dirty = 0;
  }

  /**
   * Rewrites the datafile as `snapshot()` yields it (taken synchronously once pending writes have
   * settled: its lines hold every change made so far). Changes made meanwhile are appended to the
   * new file afterwards. Returns false when it did not run (closed, already running, stopped).
   */
  async compact(snapshot: () => Iterable<string>): Promise<boolean> {
    if (this.#compacting || this.#closed) return false;
    this.#compacting = true;
    let carried: Batch | null = null;
    const temp = `${this.filename}~`;
    let logical = 0;
    try {
      while (this.#inFlight) await this.#inFlight.done.catch(() => undefined);
      await this.#extending;
      // Changes queued but not written yet are in the snapshot: the new file carries them.
      carried = this.#next;
      this.#next = null;
      const lines = snapshot();
      const out = await open(temp, 'w', this.mode);
      try {
        let chunk = '';
        let position = 0;
        for (const line of lines) {
          chunk += line;
          if (chunk.length < 1 << 20) continue;
          position += (await out.write(chunk, position, 'utf8')).bytesWritten;
          chunk = '';
          // Stop promptly at close: a large rewrite must not hold the shutdown.
          if (this.#stopCompaction) throw new Error('compaction stopped');
        }
        if (chunk.length > 0) position += (await out.write(chunk, position, 'utf8')).bytesWritten;
        // The new file's zeroed tail, synced with its lines. On a disk too full for it, the file goes without
        // (the compaction frees room; the tail is added afterwards, as to an older file).
        await writeZeros(out, position, tailBytesFor(position)).catch(() => out.truncate(position));
        await out.sync();
        logical = position;
      } finally {
        await out.close();
      }
      await rename(temp, this.filename);
      // The rename made durable; its failure must not fail the compaction: the rename has happened, and the
      // handle must move to the new file below (writing on would go to the replaced one).
      await syncDirectory(dirname(this.filename), false).catch(() => undefined);
      const fresh = await DatafileAppender.#openAt(this.filename, this.mode, this.options, logical);
      const old = this.handle;
      this.handle = fresh.handle;
      this.#offset = fresh.#offset;
      this.#end = fresh.#end;
      this.#dirty = 0;
      this.#appended = 0;
      // The new file holds every change the lazy lines made (the snapshot), synced.
      this.#unsynced = false;
      await old.close().catch(() => undefined);
      carried?.settle();
      carried = null;
      return true;
    } catch (error) {
      await rm(temp, { force: true }).catch(() => undefined);
      if (this.#stopCompaction) return false;
      throw error;
    } finally {
      // Lines the snapshot was to carry go to the old file as usual, ahead of newer ones.
      if (carried) this.#next = merge(carried, this.#next);
      this.#compacting = false;
      this.#maybeExtend();
      if (this.#next && !this.#inFlight) void this.#drain();
    }
  }

  /** Stops a running compaction, waits for queued writes and closes the file. Later pushes are refused. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#stopCompaction = true;
    while (this.#compacting || this.#next || this.#inFlight) {
      if (this.#compacting) await new Promise((resolve) => setImmediate(resolve));
      else await this.settled();
    }
    this.#closed = true;
    await this.#extending;
    if (this.#lazySync) clearTimeout(this.#lazySync);
    this.#lazySync = null;
    // Lazy lines still waiting for their fdatasync: on the disk before the file is let go.
    if (this.#unsynced) await this.#io.datasync(this.handle).catch(() => undefined);
    this.#unsynced = false;
    await this.handle.close();
  }
}

/** A write settled at once: in the file as soon as it resolves (never when it rejects). */
function pending(settled: Promise<void>): PendingWrite {
  return Object.assign(settled, { inFile: settled.then(() => undefined, () => new Promise<void>(() => undefined)) });
}
