import { Writable } from 'node:stream';
import { open, type FileHandle } from 'node:fs/promises';

/**
 * Where formidable streams one file part: a new file (never an existing one: `wx`) that refuses to
 * grow past `maxBytes` while streaming — formidable itself checks its per-file limit only when the
 * part has ended, after the whole file was written. Owning the descriptor lets the receiver wait
 * for 'close' before deleting the file, so nothing is left behind on disk after a failure.
 */
export class IncomingFile extends Writable {
  #handle: FileHandle | undefined;
  #written = 0;

  constructor(
    readonly field: string | null,
    readonly path: string,
    private readonly maxBytes: number,
    private readonly tooLarge: (field: string | null) => Error,
    /** Checked before the file is created: a part that starts after the request failed writes nothing. */
    private readonly cancelled: () => boolean,
    /** Sees every byte, in order, as it is written (the checks that need no second read of the file). */
    private readonly watch: (chunk: Buffer) => void = () => undefined,
  ) {
    // Chunks that arrive while a write is on its way are buffered and written together by _writev:
    // one system call per batch instead of one per parser chunk (often a few KiB).
    super({ highWaterMark: 256 * 1024 });
  }

  get bytesWritten(): number {
    return this.#written;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    if (this.cancelled()) {
      callback(new Error('the upload was cancelled before this part started'));
      return;
    }
    open(this.path, 'wx').then(
      (handle) => {
        this.#handle = handle;
        callback();
      },
      (error: Error) => callback(error),
    );
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#written + chunk.length > this.maxBytes) {
      callback(this.tooLarge(this.field));
      return;
    }
    this.#written += chunk.length;
    this.watch(chunk);
    writeAll(this.#handle!, chunk).then(
      () => callback(),
      (error: Error) => callback(error),
    );
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    let length = 0;
    for (const { chunk } of chunks) length += chunk.length;
    if (this.#written + length > this.maxBytes) {
      callback(this.tooLarge(this.field));
      return;
    }
    this.#written += length;
    for (const { chunk } of chunks) this.watch(chunk);
    writevAll(
      this.#handle!,
      chunks.map(({ chunk }) => chunk),
      length,
    ).then(
      () => callback(),
      (error: Error) => callback(error),
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#closeHandle().then(
      () => callback(),
      (error: Error) => callback(error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#closeHandle().then(
      () => callback(error),
      () => callback(error),
    );
  }

  /** Resolves once the descriptor is closed (at once if it already is). */
  async whenClosed(): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve) => this.once('close', resolve));
  }

  async #closeHandle(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close();
  }
}

async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

async function writevAll(handle: FileHandle, buffers: Buffer[], length: number): Promise<void> {
  const { bytesWritten } = await handle.writev(buffers);
  // A short write is rare (disk full, signals); finish the rest the simple way.
  if (bytesWritten < length) await writeAll(handle, Buffer.concat(buffers).subarray(bytesWritten));
}
