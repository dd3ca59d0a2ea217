import type { Readable } from 'node:stream';

/**
 * Where the bridge keeps files (results, uploads): a flat namespace of keys like
 * `results/<generation id>/<file>`, each a whole blob written once. Shaped after what object stores
 * (S3, GCS, Azure) offer — whole-object writes that appear complete or not at all, ranged reads,
 * prefix listing and deletion — so one can replace the built-in directory store (a folder all
 * instances of a fleet share) without touching the plugins that use it.
 *
 * Keys are `/`-separated segments of letters, digits, `.`, `_` and `-`, none starting with a dot.
 */
export interface BlobInfo {
  key: string;
  size: number;
  /** When the blob was written (Last-Modified). */
  modifiedAt: Date;
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

/**
 * A stream, or a local file to read from (what a finished upload usually is). `move`: the caller
 * gives the file up: once put resolves the file is gone from its path (a store on the same file system
 * renames it into place; one that copies deletes it after the copy), so the caller makes no call to
 * delete it. `size`: the file's size when the caller knows it (it wrote the file), so that the store
 * need not look it up for the BlobInfo it answers. `synced`: the caller made the file's data durable already
 * (fdatasync), so a store that moves it into place only makes its name durable.
 */
export type BlobSource = Readable | { file: string; move?: boolean; size?: number; synced?: boolean };

export interface BlobStore {
  /**
   * Writes the whole source under `key`, replacing what was there. Readers see the old blob or the
   * new one, never a part. Rejects (and leaves nothing behind) when the source fails. Resolves once the
   * blob is durable (it survives a power loss: callers write the row that names it next), unless the store
   * was told the storage does not sync its rows either.
   */
  put(key: string, source: BlobSource): Promise<BlobInfo>;
  /** The blob, or a byte range of it; the stream errors with code ENOENT when there is none. */
  read(key: string, range?: ByteRange): Readable;
  /** Size and time of one blob; undefined when there is none. */
  stat(key: string): Promise<BlobInfo | undefined>;
  /** Deletes one blob (none is fine). */
  delete(key: string): Promise<void>;
  /** Deletes every blob whose key starts with `prefix` (which ends with `/`). */
  deletePrefix(prefix: string): Promise<void>;
  /**
   * Optional: put for a blob already whole in memory (a small result file), in fewer calls where the store
   * can (the directory store: synchronous open, write, close and rename, no stream and no thread-pool trip).
   * The same guarantees as put: readers see the old blob or the new one, never a part; durable once resolved.
   */
  putBytes?(key: string, bytes: Uint8Array): Promise<BlobInfo>;
  /**
   * Optional: deletePrefix for a prefix blobs are about to be put under, in fewer calls where the store
   * can (the directory store: one mkdir when the folder is not there, which also readies it for the puts, and
   * the fsync of its parent that makes the new folder durable: off a generation's way to `closed` when called ahead).
   */
  resetPrefix?(prefix: string): Promise<void>;
  /** The blobs under a prefix (ending with `/`), in key order. */
  list(prefix: string): Promise<BlobInfo[]>;
  /**
   * A local path of the blob, for the stores that have one (the directory store) and the callers
   * that need a file (handing it to a library that only reads paths); undefined elsewhere.
   */
  localPath?(key: string): string;
}

const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$/;

/** Whether `key` is a well-formed blob key (so a directory store can map it to a path safely). */
export function isBlobKey(key: string): boolean {
  return key.length <= 1024 && key.split('/').every((segment) => SEGMENT.test(segment));
}

/** Whether `prefix` is a well-formed prefix: keys' first segments followed by `/`. */
export function isBlobPrefix(prefix: string): boolean {
  return prefix.endsWith('/') && isBlobKey(prefix.slice(0, -1));
}

declare module '../core/services.js' {
  interface ServiceMap {
    /** Where files live; provided by a blob-store plugin, else results keeps a directory store of its own. */
    blobs: BlobStore;
  }
}
