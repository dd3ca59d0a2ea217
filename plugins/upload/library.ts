import type { Logger } from 'pino';
import type { BlobStore } from '../../contracts/blob-store.js';
import type { UploadService } from '../../plugins/upload/api.js';
import type { UploadRecord, UploadStore } from '../../contracts/storage.js';
import { canSee, isAdmin, type Principal } from '../../contracts/auth.js';
import { freshName, STORED_NAME } from './names.js';
import type { ImageInfo } from './inspect-image.js';

/** A received file that passed inspection, still in the incoming folder. */
export interface AcceptedFile {
  field: string;
  path: string;
  size: number;
  image: ImageInfo;
}

/** Where an upload's bytes are in the blob store: `uploads/<stored name>` (a folder of the data dir for the directory store). */
export const uploadKey = (name: string): string => `uploads/${name}`;

/**
 * The stored uploads: blobs `uploads/<name>` in the blob store (the data dir, shared by every instance of a
 * fleet, unless a `blobs` plugin replaces it), one record each in storage.
 */
export class UploadLibrary implements UploadService {
  constructor(
    private readonly blobs: BlobStore,
    private readonly store: UploadStore,
    private readonly log: Logger,
    /** The upload's createdAt, which expiry compares with the same clock. */
    private readonly now: () => number = Date.now,
    /**
     * fdatasync of an accepted file (a local file in the incoming folder), made while its record is written; undefined
     * when the storage does not sync its rows (nothing to gain then).
     */
    private readonly syncFile?: (path: string) => Promise<void>,
  ) {}

  async find(name: string, clientId: string, principal: Principal): Promise<UploadRecord | undefined> {
    if (!STORED_NAME.test(name)) return undefined;
    const record = await this.store.get(name);
    if (!record) return undefined;
    const allowed = isAdmin(principal) || (record.clientId === clientId && canSee(principal, record.owner));
    if (!allowed) return undefined;
    let blob;
    try {
      blob = await this.blobs.stat(uploadKey(name));
    } catch (error) {
      this.log.warn({ err: error, upload: name }, 'could not look up an upload file');
      return undefined;
    }
    if (!blob) {
      this.log.warn({ upload: name }, 'upload record without its file');
      return undefined;
    }
    return record;
  }

  pathOf(name: string): string {
    // Callers pass names that came from clients; never build a path from anything else.
    if (!STORED_NAME.test(name)) throw new Error(`not a stored upload name: ${JSON.stringify(name)}`);
    if (!this.blobs.localPath) throw new Error('the blob store keeps no local files: uploads need a store with localPath');
    return this.blobs.localPath(uploadKey(name));
  }

  async markUsed(name: string, generationId: string): Promise<void> {
    await this.store.markUsed(name, generationId);
  }

  /**
   * Stores accepted files under fresh names and returns field → stored name. Records go in before
   * the blobs are put, so a crash in between leaves a record without a file (which expiry removes),
   * never a file without a record. Each file is durable before the answer: its data synced while the records
   * are written, its name by the store's put (which resolves once the folder's entry is synced, one fsync for
   * the files of a request). Any failure undoes the whole request. Each incoming file is given up to
   * the blob store (moved, or copied and deleted: a many-file upload does not hold every file twice); the
   * caller deletes whatever is left.
   */
  async keep(files: readonly AcceptedFile[], clientId: string, principal: Principal): Promise<Record<string, string>> {
    const createdAt = new Date(this.now()).toISOString();
    const records: UploadRecord[] = files.map((file) => ({
      name: freshName(file.image.type),
      clientId,
      owner: principal.anonymous ? null : principal.id,
      field: file.field,
      contentType: file.image.contentType,
      size: file.size,
      width: file.image.width,
      height: file.image.height,
      createdAt,
      usedBy: [],
    }));
    const inserted: string[] = [];
    const written: string[] = [];
    // The files' data synced in the thread pool while the records are written (their fdatasync too).
    const dataSynced = this.syncFile ? Promise.all(files.map((file) => this.syncFile!(file.path))) : undefined;
    dataSynced?.catch(() => undefined);
    try {
      // Together, so a store that group-commits writes them in one batch.
      const results = await Promise.allSettled(records.map((record) => this.store.insert(record)));
      results.forEach((result, index) => result.status === 'fulfilled' && inserted.push(records[index]!.name));
      const refused = results.find((result) => result.status === 'rejected');
      if (refused) throw refused.reason;
      await dataSynced;
      // Whole or nothing, for a reader on any instance (the blob store's put); moved, not copied, where the store can.
      // Given up (move): gone from the incoming folder once put resolves, so no unlink here; its size is known, so no stat there.
      // Together: their renames share the folder's fsync.
      const puts = await Promise.allSettled(
        records.map((record, index) => {
          const file = files[index]!;
          return this.blobs.put(uploadKey(record.name), { file: file.path, move: true, size: file.size, synced: dataSynced !== undefined });
        }),
      );
      puts.forEach((put, index) => put.status === 'fulfilled' && written.push(uploadKey(records[index]!.name)));
      const failed = puts.find((put) => put.status === 'rejected');
      if (failed) throw failed.reason;
    } catch (error) {
      await Promise.all(written.map((key) => this.blobs.delete(key).catch((e: unknown) => this.log.error({ err: e, key }, 'could not undo an upload file'))));
      for (const name of inserted) await this.store.delete(name).catch((e: unknown) => this.log.error({ err: e, upload: name }, 'could not undo an upload record'));
      throw error;
    }
    return Object.fromEntries(records.map((record) => [record.field, record.name]));
  }

  /** Deletes unused uploads created before `before` (file first, then record); returns how many. */
  async deleteExpired(before: Date): Promise<number> {
    const expired = await this.store.expired(before.toISOString());
    for (const record of expired) {
      if (!STORED_NAME.test(record.name)) {
        this.log.warn({ upload: record.name }, 'skipping an upload record with an invalid name');
        continue;
      }
      await this.blobs.delete(uploadKey(record.name));
      await this.store.delete(record.name);
    }
    return expired.length;
  }
}
