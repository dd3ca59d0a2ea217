import { createInflate, inflateSync, type Inflate } from 'node:zlib';

/**
 * Proves that a PNG's image data (the bytes of its IDAT chunks, in order) is one whole zlib stream,
 * its adler32 included, that inflates to exactly `rows` rows of `stride` bytes, each starting with a
 * filter type 0–4, with no bytes after its end: what libpng checks when it decodes.
 *
 * Small images (the common upload) are held as they arrive and inflated in one synchronous call once
 * their last byte is in: streaming 1 MiB through Node's zlib stream is ~30 round trips to the thread
 * pool with their callbacks and 64 KiB output buffers, and on a busy bridge those (and the garbage
 * they leave) cost several times the inflate itself. Data past HOLD_BYTES, or an image whose rows
 * take more than ONE_SHOT_OUTPUT_BYTES, streams through an inflater as it arrives instead, so memory
 * per upload stays bounded whatever the image.
 */

/** Image data held for the one-shot inflate: above it, the data streams. */
const HOLD_BYTES = 4 * 1024 * 1024;
/** The largest inflated image a one-shot inflate may produce (it is allocated whole). */
const ONE_SHOT_OUTPUT_BYTES = 8 * 1024 * 1024;
/**
 * Streamed data goes to the inflater in pieces of at least this size (gathered from the parser's ~64 KiB
 * pieces), and comes out in pieces this size: each write is a trip through the thread pool, each output
 * piece a callback, and the output is only looked at (filter bytes, length).
 */
const STREAM_CHUNK = 1024 * 1024;

/**
 * Where held image data is gathered for the one-shot inflate: one buffer for the whole process, grown
 * to HOLD_BYTES at most. The inflate is synchronous, so no two uploads use it at once; a fresh 1 MiB
 * buffer per upload would cost its allocation, the page faults of first touching it, and garbage.
 */
let gather = Buffer.allocUnsafeSlow(0);

function gathered(pieces: readonly Buffer[], length: number): Buffer {
  if (pieces.length === 1) return pieces[0]!;
  if (gather.length < length) gather = Buffer.allocUnsafeSlow(Math.min(HOLD_BYTES, Math.max(length, 2 * gather.length)));
  let at = 0;
  for (const piece of pieces) at += piece.copy(gather, at);
  return gather.subarray(0, length);
}

export class PngPixels {
  #held: Buffer[] = [];
  #heldBytes = 0;
  #inflater: Inflate | undefined;
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
  }

  /** The next bytes of image data. */
  feed(slice: Buffer): void {
    if (this.#failed) return;
    if (this.#inflater) return this.#write(slice);
    if (this.#expected <= ONE_SHOT_OUTPUT_BYTES && this.#heldBytes + slice.length <= HOLD_BYTES) {
      // The parser's pieces are not reused once written: a reference is enough.
      this.#held.push(slice);
      this.#heldBytes += slice.length;
      return;
    }
    this.#startStreaming();
    this.#write(slice);
  }

  /** Once all image data was fed: whether it is whole and exactly the image's rows. */
  async whole(): Promise<boolean> {
    if (this.#failed) return false;
    const inflater = this.#inflater;
    if (!inflater) return this.#oneShot();
    this.#flush();
    if (inflater.destroyed) return false;
    if (!inflater.readableEnded) {
      await new Promise<void>((resolve) => {
        inflater.once('end', resolve);
        inflater.once('close', resolve);
        inflater.end();
      });
    }
    return !this.#failed && this.#inflated === this.#expected && inflater.bytesWritten === this.#fed;
  }

  dispose(): void {
    this.#held = [];
    this.#pending = [];
    this.#inflater?.destroy();
  }

  #oneShot(): boolean {
    const input = gathered(this.#held, this.#heldBytes);
    this.#held = [];
    let result: { buffer: Buffer; engine: { bytesWritten: number } };
    try {
      // One output buffer of exactly the image's size (+1, so a longer stream shows as too long, not as a full buffer).
      result = inflateSync(input, { info: true, chunkSize: Math.max(64, this.#expected + 1), maxOutputLength: this.#expected + 1 }) as unknown as typeof result;
    } catch {
      // Damaged, truncated, a wrong checksum or more than the image's rows.
      return false;
    }
    if (result.buffer.length !== this.#expected || result.engine.bytesWritten !== input.length) return false;
    return this.#rowsValid(result.buffer, 0);
  }

  #startStreaming(): void {
    const inflater = createInflate({ chunkSize: STREAM_CHUNK });
    inflater.on('data', (out: Buffer) => this.#inflatedPiece(out));
    inflater.on('error', () => void (this.#failed = true));
    this.#inflater = inflater;
    const held = this.#held;
    this.#held = [];
    for (const piece of held) this.#write(piece);
  }

  #write(slice: Buffer): void {
    this.#pending.push(slice);
    this.#pendingBytes += slice.length;
    if (this.#pendingBytes >= STREAM_CHUNK) this.#flush();
  }

  #flush(): void {
    const input = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    // A stream that ended before its image data did (bytes after the zlib end) fails the count in whole().
    if (input.length === 0 || !this.#inflater || this.#inflater.readableEnded || this.#inflater.destroyed) return;
    this.#fed += input.length;
    this.#inflater.write(input);
  }

  #inflatedPiece(out: Buffer): void {
    const start = this.#inflated;
    this.#inflated += out.length;
    if (this.#inflated > this.#expected || !this.#rowsValid(out, start)) {
      this.#failed = true;
      this.#inflater?.destroy();
    }
  }

  /** Checks the filter type of every row that starts within `out` (which begins at inflated offset `start`). */
  #rowsValid(out: Buffer, start: number): boolean {
    const end = start + out.length;
    for (; this.#nextRow < end; this.#nextRow += this.stride) {
      if (out[this.#nextRow - start]! > 4) return false;
    }
    return true;
  }
}
