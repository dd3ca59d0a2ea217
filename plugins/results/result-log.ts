import { constants, writeSync, writevSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import type { BytesLog } from '../../contracts/directory-blob-store.js';
import { datasync, DirectorySyncs, syncDirectory } from '../../contracts/directory-sync.js';
import { endOfData, writeZeros } from '../../contracts/zeroed-space.js';

/** `CBRL` read as a little-endian u32: where a record starts. */
const MAGIC = 0x4c524243;
/** magic, header length, body length, CRC-32 of the first twelve bytes, the header and the body. */
const HEAD = 16;
/** Records start on a block: a write then covers whole blocks of the zeros written ahead (bench/floors.ts measured that). */
const BLOCK = 4096;
/** The log is cut into this many segments, each reused once none of its records is still waiting for its file. */
const SEGMENTS = 4;

const aligned = (length: number): number => Math.ceil(length / BLOCK) * BLOCK;

/** The segments of a log of `bytes` (each a whole number of blocks; what is left over is not used). */
function segmentsOf(bytes: number): Segment[] {
  const segment = Math.floor(bytes / SEGMENTS / BLOCK) * BLOCK;
  return Array.from({ length: SEGMENTS }, (_, i) => ({ start: i * segment, end: (i + 1) * segment, offset: i * segment, pending: 0 }));
}

/** A part of the log written from its start: records follow each other; `pending` of them wait for their file's sync. */
interface Segment {
  start: number;
  end: number;
  offset: number;
  pending: number;
}

/** A whole record read back: the blob's key and bytes. */
export interface LoggedBlob {
  key: string;
  bytes: Buffer;
}

/**
 * The write-ahead log of result bytes (docs/performance.md, "Results through a log, wave 12"). A small result's
 * bytes are appended here and fdatasynced (the durability point, before the row that names the file is written);
 * its file at its usual name is written beside it and synced later, off a generation's way to `closed`, by the
 * directory store, which then releases the record.
 *
 * Why it is cheaper: the log is a file of zeros written and synced ahead (contracts/zeroed-space.ts, as storage-nedb's
 * datafile tail), so an append changes neither its size nor its blocks and its fdatasync has no ext4 journal commit
 * to wait for, where a new file's does (1.1–2.5 ms). Syncs asked for while one is on its way share the next.
 *
 * Records: `CBRL`, the header's length, the body's length, a CRC-32 of those, the header (JSON: the key) and the body;
 * each starts on a 4 KiB block. The log is cut into segments; appends fill one from its start, then move to another
 * whose records are all released (the segment is then written over from its start). A record that does not fit
 * anywhere is refused: the store syncs the file itself then, as before (nothing is ever lost for want of room).
 *
 * Replay (`open`, at start, before appends are taken): every whole record of every segment, read from the segment's
 * start up to the first record that is not whole (a torn write: its CRC, lengths or magic do not match), is handed to
 * `restore`, which rewrites the file when a row names it and it is missing or differs. Stopping at a torn record loses
 * nothing acknowledged: a record is acknowledged once a sync that started after its write has ended, and that sync
 * also flushed every record written before it, so a torn record has no acknowledged record after it. Records already
 * released (their file was synced) are read too and are harmless: their file is there, or no row names it any more.
 * Then the log is zeroed where it held records, synced, and appends are taken.
 *
 * One process per log: storage-nedb's data dir lock sees to it; in a fleet each instance has a log of its own, its
 * name held for the process's life (fleet-logs.ts). When that hold is lost, `stop` ends the appends: another
 * instance may replay and remove the log from then on.
 */
export class ResultLog implements BytesLog {
  #handle: FileHandle | undefined;
  #segments: Segment[] = [];
  #current = 0;
  #syncs: DirectorySyncs | undefined;
  #closed = false;
  #stopped = false;

  constructor(
    readonly path: string,
    /** The log's size: the bytes of records that may wait for their files' syncs at once (split in SEGMENTS). */
    readonly capacity: number,
  ) {}

  /**
   * Opens the log (made and zero-filled when missing or shorter than `capacity`), hands every whole record to
   * `restore` (in order), then zeroes the records and takes appends. Resolves with how many records `restore`
   * rewrote. Appends made before it resolves are refused (their stores sync the files themselves).
   */
  async open(restore: (blob: LoggedBlob) => Promise<boolean>): Promise<number> {
    const handle = await open(this.path, constants.O_RDWR | constants.O_CREAT);
    try {
      const size = (await handle.stat()).size;
      // Records lie where the segments of the log that wrote them were: a log is its capacity long (four segments) from
      // before its first record, so its size tells them, whatever `logBytes` is now.
      const written = segmentsOf(size);
      const restored = await restoreRecords(handle, size, restore);
      const ends: number[] = [];
      for (const part of written) ends.push(await endOfData(handle, part.end, part.start));
      // Zeros where records were, and up to the capacity: every later append writes into synced zeros.
      for (const [i, part] of written.entries()) if (ends[i]! > part.start) await writeZeros(handle, part.start, ends[i]! - part.start);
      this.#segments = segmentsOf(this.capacity);
      const capacity = this.#segments.at(-1)!.end;
      if (size > capacity) await handle.truncate(capacity);
      if (size < capacity) await this.#extend(handle, size, capacity);
      await handle.datasync();
      // The log's own name (a new file's entry in its folder).
      if (size === 0) await syncDirectory(dirname(this.path), true);
      this.#handle = handle;
      this.#syncs = new DirectorySyncs(() => true, () => datasync(handle.fd));
      return restored;
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
  }

  /**
   * The zeros from `size` to `capacity`; on failure (a disk without room for them) the log is cut back to `size`, so
   * that it takes no room the rows and files need: the bridge then runs without it (files synced before rows).
   */
  async #extend(handle: FileHandle, size: number, capacity: number): Promise<void> {
    try {
      await writeZeros(handle, size, capacity - size);
    } catch (error) {
      await handle.truncate(size).catch(() => undefined);
      throw error;
    }
  }

  async append(key: string, bytes: Uint8Array): Promise<(() => void) | undefined> {
    const handle = this.#handle;
    if (!handle || this.#closed || this.#stopped) return undefined;
    const header = Buffer.from(JSON.stringify({ key }));
    const length = aligned(HEAD + header.length + bytes.length);
    const part = this.#room(length);
    if (!part) return undefined;
    const at = part.offset;
    part.offset += length;
    part.pending += 1;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      part.pending -= 1;
      // Every record of the segment released: it is written over from its start.
      if (part.pending === 0) part.offset = part.start;
    };
    try {
      const head = Buffer.allocUnsafe(HEAD);
      head.writeUInt32LE(MAGIC, 0);
      head.writeUInt32LE(header.length, 4);
      head.writeUInt32LE(bytes.length, 8);
      head.writeUInt32LE(crc32(bytes, crc32(header, crc32(head.subarray(0, 12)))), 12);
      // On the event loop, before the first await (the store makes the file while the sync runs): a write into the
      // page cache, as the directory store's putBytes (local disk only).
      const written = writevSync(handle.fd, [head, header, bytes], at);
      if (written < HEAD + header.length + bytes.length) writeWhole(handle.fd, Buffer.concat([head, header, bytes]).subarray(written), at + written);
      await this.#syncs!.sync(this.path);
      // Stopped while the sync ran: the log may be another instance's to replay and remove already.
      if (this.#stopped) throw new Error('the log stopped');
    } catch {
      release();
      return undefined;
    }
    return release;
  }

  /** The segment `length` bytes go into: the current one while it has room, else the next one with no record pending. */
  #room(length: number): Segment | undefined {
    const current = this.#segments[this.#current]!;
    if (current.offset + length <= current.end) return current;
    for (let step = 1; step < this.#segments.length; step++) {
      const index = (this.#current + step) % this.#segments.length;
      const part = this.#segments[index]!;
      if (part.pending === 0 && part.start + length <= part.end) {
        part.offset = part.start;
        this.#current = index;
        return part;
      }
    }
    return undefined;
  }

  /**
   * No append from now on (the name that made the log this process's was lost): the stores sync their files before
   * their rows. The records pending are released as their files are synced; the log stays open until close.
   */
  stop(): void {
    this.#stopped = true;
  }

  /** No append after this; the caller has waited for the store's files to be synced (their records released). */
  async close(): Promise<void> {
    this.#closed = true;
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close();
  }
}

/** The rest of a short write. */
function writeWhole(fd: number, bytes: Buffer, position: number): void {
  for (let written = 0; written < bytes.length; ) written += writeSync(fd, bytes, written, bytes.length - written, position + written);
}

/** Hands every whole record of the log open at `handle` (`size` bytes long) to `restore`; resolves with how many it rewrote. */
async function restoreRecords(handle: FileHandle, size: number, restore: (blob: LoggedBlob) => Promise<boolean>): Promise<number> {
  let restored = 0;
  for (const part of segmentsOf(size)) {
    for (const record of await readRecords(handle, part.start, part.end)) if (await restore(record)) restored += 1;
  }
  return restored;
}

/** Replays the log at `path`, another process's (a dead instance's in a fleet), without writing to it. */
export async function replayLogFile(path: string, restore: (blob: LoggedBlob) => Promise<boolean>): Promise<number> {
  const handle = await open(path, 'r');
  try {
    return await restoreRecords(handle, (await handle.stat()).size, restore);
  } finally {
    await handle.close();
  }
}

/** The whole records of [start, end), from `start` to the first that is not whole. */
export async function readRecords(handle: FileHandle, start: number, end: number): Promise<LoggedBlob[]> {
  const records: LoggedBlob[] = [];
  const head = Buffer.alloc(HEAD);
  for (let at = start; at + HEAD <= end; ) {
    await handle.read(head, 0, HEAD, at);
    if (head.readUInt32LE(0) !== MAGIC) break;
    const headerLength = head.readUInt32LE(4);
    const bodyLength = head.readUInt32LE(8);
    const length = HEAD + headerLength + bodyLength;
    if (at + length > end) break;
    const rest = Buffer.alloc(headerLength + bodyLength);
    await handle.read(rest, 0, rest.length, at + HEAD);
    const header = rest.subarray(0, headerLength);
    const bytes = rest.subarray(headerLength);
    if (crc32(bytes, crc32(header, crc32(head.subarray(0, 12)))) !== head.readUInt32LE(12)) break;
    let key: unknown;
    try {
      key = (JSON.parse(header.toString('utf8')) as { key?: unknown }).key;
    } catch {
      break;
    }
    if (typeof key !== 'string') break;
    records.push({ key, bytes });
    at += aligned(length);
  }
  return records;
}
