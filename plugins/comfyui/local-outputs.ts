import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { FetchedOutput, OutputRef } from '../../contracts/transport.js';
import { onLocalDisk } from '../../contracts/local-disk.js';

/**
 * A file at most this large, on a local disk, is read whole with synchronous calls (open, fstat, read, close: tens
 * of µs for a file in the page cache ComfyUI has just written), the way results' copy reads a small body whole.
 * Larger files, and any file on a network mount (where a call may wait seconds), stream through the thread pool.
 */
const WHOLE_READ_BYTES = 1024 * 1024;

/**
 * A ComfyUI backend's output and temp folders as this machine sees them (options `backends[].outputDir` and
 * `tempDir`: ComfyUI on the same host, or its folders on a shared mount). An output ComfyUI announced is read
 * from there instead of asked for with GET /view: no HTTP round trip to ComfyUI on a generation's way to
 * `closed`, and no work for ComfyUI's server, which serves /view from Python.
 *
 * Names are checked as ComfyUI's /view checks them (no `..` in the file name, which may not be absolute; the
 * subfolder stays inside the folder). `open` resolves undefined whenever the file is not plainly there (no
 * folder for its type, a name /view would refuse, no such file, a folder that cannot be read): the caller then
 * asks ComfyUI over HTTP, which stays the authority on what exists.
 */
export class LocalOutputs {
  readonly #folders: ReadonlyMap<string, string>;
  /** Whether each folder is on a local disk, told at its first read. */
  readonly #local = new Map<string, boolean>();
  /** A folder that missed a file ComfyUI announced is said once: it is likely not this backend's folder. */
  readonly #warned = new Set<string>();

  constructor(
    folders: { output?: string; temp?: string },
    private readonly backend: string,
    private readonly log: Logger,
  ) {
    const entries: [string, string][] = [];
    if (folders.output) entries.push(['output', resolve(folders.output)]);
    if (folders.temp) entries.push(['temp', resolve(folders.temp)]);
    this.#folders = new Map(entries);
  }

  /** The file's path when its type has a folder here and its name is one /view would serve, else undefined. */
  pathOf(ref: Pick<OutputRef, 'filename' | 'subfolder' | 'type'>): string | undefined {
    const folder = this.#folders.get(ref.type);
    if (folder === undefined) return undefined;
    const { filename, subfolder } = ref;
    if (!filename || filename.startsWith('/') || filename.includes('..') || filename.includes('\0') || subfolder.includes('\0')) return undefined;
    const dir = subfolder ? resolve(folder, subfolder) : folder;
    if (dir !== folder && !dir.startsWith(folder + sep)) return undefined;
    return resolve(dir, basename(filename));
  }

  /** The output read from its folder, or undefined (the caller fetches it over HTTP). */
  async open(ref: OutputRef): Promise<FetchedOutput | undefined> {
    const path = this.pathOf(ref);
    if (path === undefined) return undefined;
    const folder = this.#folders.get(ref.type)!;
    let local = this.#local.get(folder);
    if (local === undefined) this.#local.set(folder, (local = onLocalDisk(folder)));
    try {
      return local ? readNow(path) ?? (await stream(path)) : await stream(path);
    } catch (error) {
      this.#missed(folder, ref, error);
      return undefined;
    }
  }

  #missed(folder: string, ref: OutputRef, error: unknown): void {
    if (this.#warned.has(folder)) return;
    this.#warned.add(folder);
    this.log.warn(
      { backend: this.backend, folder, file: ref.filename, subfolder: ref.subfolder, err: error },
      `could not read an output ComfyUI announced from its ${ref.type} folder as configured: fetched over HTTP instead (is this the backend's ${ref.type} folder, readable by the bridge?)`,
    );
  }
}

const GENERIC = 'application/octet-stream';

/** A small file read whole now (undefined when it is larger: it streams); throws when it cannot be read. */
function readNow(path: string): FetchedOutput | undefined {
  const fd = openSync(path, 'r');
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw Object.assign(new Error(`${path} is not a file`), { code: 'EISDIR' });
    if (stat.size > WHOLE_READ_BYTES) return undefined;
    const bytes = Buffer.allocUnsafe(stat.size);
    let read = 0;
    while (read < bytes.length) {
      const got = readSync(fd, bytes, read, bytes.length - read, read);
      if (got === 0) break;
      read += got;
    }
    const whole = bytes.subarray(0, read);
    // The type is left to results, which names it by the file's extension (contentTypeFor), as it does when /view says none.
    return { stream: Readable.from([whole], { objectMode: false }), contentType: GENERIC, length: read, bytes: whole };
  } finally {
    closeSync(fd);
  }
}

/** A file streamed from its descriptor (opened and checked here, so a missing file is told before any byte). */
async function stream(path: string): Promise<FetchedOutput> {
  const handle = await open(path, 'r');
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw Object.assign(new Error(`${path} is not a file`), { code: 'EISDIR' });
    return { stream: handle.createReadStream({ start: 0 }), contentType: GENERIC, length: stat.size };
  } catch (error) {
    await handle.close();
    throw error;
  }
}
