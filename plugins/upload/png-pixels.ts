import { constants, createInflate, type Inflate } from 'node:zlib';

/**
 * Proves that a PNG's image data (the bytes of its IDAT chunks, in order) is one whole zlib stream,
 * its adler32 included, that inflates to exactly `rows` rows of `stride` bytes, each starting with a
 * filter type 0–4, with no bytes after its end: what libpng checks when it decodes.
 *
 * An image whose rows take at most SYNC_OUTPUT_BYTES (the common upload: 1024×1024 RGBA is 4 MiB) is
 * inflated as its data arrives, synchronously, into one small output buffer shared by the process and
 * looked at (filter bytes, length) before it is overwritten: nothing is held per upload, nothing is
 * allocated per piece, no piece goes through the thread pool. (Wave 5 held a small image's data until
 * its end — the socket chunks of 50 concurrent uploads kept alive for the garbage collector — and
 * inflated it into a fresh buffer of the image's size, mmap'd and page-faulted per upload. Alone on a
 * 1 MiB noise PNG: 0.11 ms of CPU here, 0.23–0.86 ms that way.) Larger images stream through a zlib
 * stream on the thread pool in 1 MiB pieces, so one upload never holds the event loop for longer than
 * inflating SYNC_OUTPUT_BYTES takes (a few ms), whatever its size or compression ratio.
 */

/** The largest image (its inflated rows) inflated on the event loop; above it, on the thread pool. */
const SYNC_OUTPUT_BYTES = 8 * 1024 * 1024;
/** Where every synchronous inflate writes: one buffer for the process (each call is synchronous and its output is read before the next). */
const OUTPUT = Buffer.allocUnsafeSlow(256 * 1024);
const NOTHING = Buffer.alloc(0);
/**
 * Streamed data goes to the inflater in pieces of at least this size (gathered from the parser's ~64 KiB
 * pieces), and comes out in pieces this size: each write is a trip through the thread pool, each output
 * piece a callback, and the output is only looked at (filter bytes, length).
 */
const STREAM_CHUNK = 1024 * 1024;

/**
 * The zlib binding under a node:zlib Inflate: `writeSync` inflates into a buffer we give it, on this
 * thread, and leaves [output space left, input left] in `_writeState`. Not a documented API, but
 * the one node:zlib's own *Sync functions are built on (Node 10 to 24). Checked when an inflater is
 * made: without it no small PNG is proven, and each takes the full path (decode and re-encode) —
 * slower, never less safe.
 */
interface ZlibHandle {
  writeSync(flush: number, input: Buffer, inOffset: number, inLength: number, output: Buffer, outOffset: number, outLength: number): void;
}
interface InflateInternals {
  _handle?: ZlibHandle | null;
  _writeState?: Uint32Array;
}

/** An inflater of the synchronous path, with its binding. */
interface SyncInflater {
  inflater: Inflate;
  handle: ZlibHandle;
  state: Uint32Array;
}

/**
 * Idle inflaters of the synchronous path, reset (zlib's inflateReset) and reused by the next PNG: a new one cost
 * ~0.11–0.14 ms of CPU alone (the stream object, zlib's state, its 32 KiB window allocated at the first write, the
 * close), a reset one ~1 µs. At most IDLE_INFLATERS are kept (~56 KiB each with the stream's own output buffer,
 * ~3.5 MiB in all), enough for the bench's 50 concurrent uploads; an inflater that failed is never kept.
 */
const IDLE_INFLATERS = 64;
const idleInflaters: SyncInflater[] = [];

/** A reset inflater from the idle ones, or a new one; undefined where the binding lacks writeSync. */
function takeInflater(): SyncInflater | undefined {
  for (let idle = idleInflaters.pop(); idle; idle = idleInflaters.pop()) {
    // Never a closed binding (writeSync on one aborts node): a reset that failed would have destroyed it.
    if (!idle.inflater.destroyed) return idle;
  }
  const inflater = createInflate();
  // A zlib error (damaged data, a wrong checksum, a stream that ends early) destroys the inflater at once
  // (seen as `destroyed` after the call) and emits 'error' on the next tick: caught here, judged there.
  inflater.on('error', () => undefined);
  const internals = inflater as unknown as InflateInternals;
  if (typeof internals._handle?.writeSync === 'function' && internals._writeState instanceof Uint32Array) {
    return { inflater, handle: internals._handle, state: internals._writeState };
  }
  inflater.close();
  return undefined;
}

/** Done with an inflater: reset and kept for the next PNG while there is room and it is sound, else closed. */
function giveBack(sync: SyncInflater): void {
  if (sync.inflater.destroyed) return;
  if (idleInflaters.length >= IDLE_INFLATERS) return void sync.inflater.close();
  sync.inflater.reset();
  idleInflaters.push(sync);
}

export class PngPixels {
  /** The inflater of a streamed image (over SYNC_OUTPUT_BYTES). */
  readonly #stream: Inflate | undefined;
  /** The inflater of an image inflated synchronously (see SYNC_OUTPUT_BYTES), until it is given back (dispose). */
  #sync: SyncInflater | undefined;
  /** Whether this image is inflated synchronously (its inflater may already be given back). */
  readonly #synchronous: boolean;
  /** Streamed data not yet given to the inflater. */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #fed = 0;
  #inflated = 0;
  #nextRow = 0;
  #failed = false;
  readonly #expected: number;

  constructor(private readonly stride: number, rows: number) {
    this.#expected = stride * rows;
    this.#synchronous = this.#expected <= SYNC_OUTPUT_BYTES;
    if (!this.#synchronous) {
      const stream = createInflate({ chunkSize: STREAM_CHUNK });
      this.#stream = stream;
      stream.on('data', (out: Buffer) => {
        if (!this.#rows(out, out.length)) this.#fail();
      });
      stream.on('error', () => this.#fail());
      return;
    }
    this.#sync = takeInflater();
    if (!this.#sync) this.#fail();
  }

  /** The next bytes of image data. */
  feed(slice: Buffer): void {
    if (this.#failed || slice.length === 0) return;
    if (this.#synchronous) return this.#inflateNow(slice, constants.Z_NO_FLUSH);
    this.#pending.push(slice);
    this.#pendingBytes += slice.length;
    if (this.#pendingBytes >= STREAM_CHUNK) this.#flush();
  }

  /** Once all image data was fed: whether it is whole and exactly the image's rows. */
  async whole(): Promise<boolean> {
    if (this.#synchronous) {
      // Z_FINISH on no more input: an error ("unexpected end of file") unless the stream has ended, its adler32 checked.
      if (!this.#failed) this.#inflateNow(NOTHING, constants.Z_FINISH);
    } else if (!this.#failed) {
      this.#flush();
      const inflater = this.#stream!;
      if (!inflater.readableEnded && !inflater.destroyed) {
        await new Promise<void>((resolve) => {
          inflater.once('end', resolve);
          inflater.once('close', resolve);
          inflater.end();
        });
      }
      // A stream that ended before its image data did (bytes after the zlib end) was not given all of it.
      if (inflater.bytesWritten !== this.#fed) this.#failed = true;
    }
    const whole = !this.#failed && this.#inflated === this.#expected;
    this.dispose();
    return whole;
  }

  /** Gives the inflater back for the next PNG (or frees its memory now rather than at the next garbage collection); nothing is inflated after. */
  dispose(): void {
    this.#failed = true;
    this.#pending = [];
    // Given back once (dispose may be called again): an inflater in the idle list twice would be shared by two PNGs.
    const sync = this.#sync;
    this.#sync = undefined;
    if (sync) giveBack(sync);
    if (this.#stream && !this.#stream.destroyed) this.#stream.close();
  }

  #inflateNow(input: Buffer, flush: number): void {
    const sync = this.#sync!;
    const { handle, state } = sync;
    let offset = 0;
    let left = input.length;
    for (;;) {
      handle.writeSync(flush, input, offset, left, OUTPUT, 0, OUTPUT.length);
      if (sync.inflater.destroyed) return this.#fail();
      const outputLeft = state[0]!;
      const inputLeft = state[1]!;
      if (!this.#rows(OUTPUT, OUTPUT.length - outputLeft)) return this.#fail();
      offset += left - inputLeft;
      left = inputLeft;
      // Output space left over: zlib wants more input, or its stream has ended.
      if (outputLeft !== 0) break;
    }
    // Input left over with room to spare: bytes after the end of the zlib stream.
    if (left > 0) this.#fail();
  }

  #flush(): void {
    const input = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    const stream = this.#stream!;
    if (input.length === 0 || stream.readableEnded || stream.destroyed) return;
    this.#fed += input.length;
    stream.write(input);
  }

  /** Counts the first `produced` bytes of `out` (the next inflated bytes) and checks the filter type of every row that starts within them. */
  #rows(out: Buffer, produced: number): boolean {
    const start = this.#inflated;
    this.#inflated += produced;
    if (this.#inflated > this.#expected) return false;
    for (; this.#nextRow < this.#inflated; this.#nextRow += this.stride) {
      if (out[this.#nextRow - start]! > 4) return false;
    }
    return true;
  }

  #fail(): void {
    this.dispose();
  }
}
