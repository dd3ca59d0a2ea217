import { join } from 'node:path';
import { rename, rm, stat } from 'node:fs/promises';
import type { Logger } from 'pino';
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

/** The stored uploads: files in `dir`, one record each in storage. */
export class UploadLibrary implements UploadService {
  constructor(
    readonly dir: string,
    private readonly store: UploadStore,
    private readonly log: Logger,
  ) {}

  async find(name: string, clientId: string, principal: Principal): Promise<UploadRecord | undefined> {
    if (!STORED_NAME.test(name)) return undefined;
    const record = await this.store.get(name);
    if (!record) return undefined;
    const allowed = isAdmin(principal) || (record.clientId === clientId && canSee(principal, record.owner));
    if (!allowed) return undefined;
    try {
      await stat(this.pathOf(name));
    } catch (error) {
      this.log.warn({ err: error, upload: name }, 'upload record without its file');
      return undefined;
    }
    return record;
  }

  pathOf(name: string): string {
    // Callers pass names that came from clients; never build a path from anything else.
    if (!STORED_NAME.test(name)) throw new Error(`not a stored upload name: ${JSON.stringify(name)}`);
    return join(this.dir, name);
  }

  async markUsed(name: string, generationId: string): Promise<void> {
    await this.store.markUsed(name, generationId);
  }

  /**
   * Stores accepted files under fresh names and returns field → stored name. Records go in before
   * the files move, so a crash in between leaves a record without a file (which expiry removes),
   * never a file without a record. Any failure undoes the whole request.
   */
  async keep(files: readonly AcceptedFile[], clientId: string, principal: Principal): Promise<Record<string, string>> {
    const createdAt = new Date().toISOString();
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
    const moved: string[] = [];
    try {
      for (const record of records) {
        await this.store.insert(record);
        inserted.push(record.name);
      }
      for (const [index, record] of records.entries()) {
        await rename(files[index]!.path, this.pathOf(record.name));
        moved.push(this.pathOf(record.name));
      }
    } catch (error) {
      await Promise.all(moved.map((path) => rm(path, { force: true })));
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
      await rm(this.pathOf(record.name), { force: true });
      await this.store.delete(record.name);
    }
    return expired.length;
  }
}
