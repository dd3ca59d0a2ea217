import { Writable } from 'node:stream';
import { close, open, write, writev } from 'node:fs';

/** Sees a part's bytes as they arrive and says which to write (StreamCheck; the default writes them all). */
export interface Watch {
  push(chunk: Buffer): Buffer[];
  end(): Buffer[];
}

/**
 * Where the receiver (receive.ts) streams one file part: a new file (never an existing one: `wx`) that
 * refuses to grow past `maxBytes` while streaming. Owning the descriptor lets the receiver wait
 * for 'close' before deleting the file, so nothing is left behind on disk after a failure.
 */
export class IncomingFile extends Writable {
  /** The file's descriptor (plain fs calls with callbacks: no promise or FileHandle per write). */
  #fd: number | undefined;
  /** Set while a write is in the thread pool: the descriptor is closed only after it (its number could be reused meanwhile). */
  #writing = false;
  #whenWritten: (() => void) | undefined;
  /** Bytes received (what maxBytes limits) and bytes written to the file. */
  #received = 0;
  #written = 0;

  constructor(
    readonly field: string | null,
    readonly path: string,
    private readonly maxBytes: number,
    private readonly tooLarge: (field: string | null) => Error,
    /** Checked before the file is created: a part that starts after the request failed writes nothing. */
    private readonly cancelled: () => boolean,
    /**
     * Sees every byte received, in order (the checks that need no second read of the file), and says
     * what to write: usually the chunk itself; less what it drops (PNG text chunks); at the end, bytes it held.
     */
    private readonly watch: Watch = { push: (chunk) => [chunk], end: () => [] },
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
    open(this.path, 'wx', (error, fd) => {
      if (error) return callback(error);
      this.#fd = fd;
      callback();
    });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#writePieces([chunk], callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.#writePieces(
      chunks.map(({ chunk }) => chunk),
      callback,
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    const rest = this.watch.end();
    if (rest.length === 0) return this.#close((error) => callback(error));
    this.#writeOut(rest, (error) => (error ? callback(error) : this.#close((closeError) => callback(closeError))));
  }

  #writePieces(chunks: Buffer[], callback: (error?: Error | null) => void): void {
    let length = 0;
    for (const chunk of chunks) length += chunk.length;
    if (this.#received + length > this.maxBytes) {
      callback(this.tooLarge(this.field));
      return;
    }
    this.#received += length;
    const pieces = chunks.length === 1 ? this.watch.push(chunks[0]!) : chunks.flatMap((chunk) => this.watch.push(chunk));
    this.#writeOut(pieces, callback);
  }

  /** One write call for one piece, one writev for several (batches of parser chunks), finished however many calls that takes. */
  #writeOut(pieces: Buffer[], callback: (error?: Error | null) => void): void {
    let length = 0;
    for (const piece of pieces) length += piece.length;
    if (length === 0) return callback();
    this.#written += length;
    if (pieces.length === 1) return this.#io((done) => writeAll(this.#fd!, pieces[0]!, 0, done), callback);
    this.#io(
      (done) =>
        writev(this.#fd!, pieces, (error, written) => {
          if (error) return done(error);
          // A short write is rare (disk full, signals); finish the rest the simple way.
          if (written < length) return writeAll(this.#fd!, Buffer.concat(pieces), written, done);
          done();
        }),
      callback,
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const closeNow = () => this.#close(() => callback(error));
    if (this.#writing) this.#whenWritten = closeNow;
    else closeNow();
  }

  /** Resolves once the descriptor is closed (at once if it already is). */
  async whenClosed(): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve) => this.once('close', resolve));
  }

  #io(work: (done: (error?: Error | null) => void) => void, callback: (error?: Error | null) => void): void {
    this.#writing = true;
    work((error) => {
      this.#writing = false;
      const waiting = this.#whenWritten;
      this.#whenWritten = undefined;
      waiting?.();
      callback(error);
    });
  }

  #close(callback: (error?: Error | null) => void): void {
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd === undefined) return callback();
    close(fd, callback);
  }
}

/** Writes `chunk` from `offset` to its end, however many calls that takes. */
function writeAll(fd: number, chunk: Buffer, offset: number, callback: (error?: Error | null) => void): void {
  if (offset >= chunk.length) return callback();
  write(fd, chunk, offset, chunk.length - offset, null, (error, written) => {
    if (error) return callback(error);
    writeAll(fd, chunk, offset + written, callback);
  });
}
