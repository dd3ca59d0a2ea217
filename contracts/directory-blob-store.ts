import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isBlobKey, isBlobPrefix, type BlobInfo, type BlobSource, type BlobStore, type ByteRange } from './blob-store.js';

/**
 * The built-in blob store (results and uploads fall back to it when no `blobs` plugin is enabled): a
 * directory (the data dir), a key being a relative path. Every instance of a
 * fleet mounts the same directory at the same path. A blob is written to a temporary name beside its
 * place and renamed into it, so a reader on any instance sees the whole file or none (POSIX rename is
 * atomic within one file system, NFS included); a failed write leaves nothing. Temporary names start
 * with a dot, which no key may, so `list` never returns one.
 */
export class DirectoryBlobStore implements BlobStore {
  constructor(readonly root: string) {}

  async put(key: string, source: BlobSource): Promise<BlobInfo> {
    const path = this.localPath(key);
    await mkdir(dirname(path), { recursive: true });
    // A file given up by its caller, on this file system: renamed into place (atomic too), no copy.
    if ('file' in source && source.move === true && (await rename(source.file, path).then(() => true, () => false))) return (await this.stat(key))!;
    const temp = join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`);
    try {
      const input: Readable = 'file' in source && typeof source.file === 'string' ? createReadStream(source.file) : (source as Readable);
      await pipeline(input, createWriteStream(temp, { flags: 'wx' }));
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true }).catch(() => undefined);
      throw error;
    }
    return (await this.stat(key))!;
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
    if ((await lstat(path).catch(() => undefined)) === undefined) return;
    await rm(path, { recursive: true, force: true });
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
