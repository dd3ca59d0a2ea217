import { HEAD_BYTES, TAIL_BYTES, type KnownEnds } from './inspect-image.js';
import { PngStream, type PlainPng } from './png-stream.js';

/**
 * Watches a received file's bytes as they stream to disk, so nothing needs to read it back: runs the
 * PNG proof (png-stream.ts) that lets a plain PNG be kept as it came (less its text chunks, which
 * are not written), and keeps the first HEAD_BYTES and last TAIL_BYTES of what is written (type
 * sniffing, the completeness check).
 */
export class StreamCheck implements KnownEnds {
  #headParts: Buffer[] = [];
  #headLength = 0;
  #head: Buffer | undefined;
  #tail: Buffer = Buffer.alloc(0);
  /** The last piece written when it was at least TAIL_BYTES long: cut to its tail only when asked (no view made per piece). */
  #lastPiece: Buffer | undefined;
  readonly #png: PngStream;

  constructor(limits: { maxPixels: number; maxTotalPixels: number }) {
    this.#png = new PngStream(Math.min(limits.maxPixels, limits.maxTotalPixels));
  }

  /** The next bytes received; returns the bytes to write (all of them, less the PNG chunks png-stream.ts drops). */
  push(chunk: Buffer): Buffer[] {
    const pieces = this.#png.push(chunk);
    for (const piece of pieces) this.#written(piece);
    return pieces;
  }

  /** After the last push: bytes still to write (see PngStream.end). */
  end(): Buffer[] {
    const pieces = this.#png.end();
    for (const piece of pieces) this.#written(piece);
    return pieces;
  }

  /** Keeps the ends of the file as written (what the full path checks is the file on disk). */
  #written(piece: Buffer): void {
    if (this.#headLength < HEAD_BYTES) {
      // Parser chunks are not reused once written: keeping a reference is enough.
      this.#headParts.push(piece.subarray(0, HEAD_BYTES - this.#headLength));
      this.#headLength += Math.min(piece.length, HEAD_BYTES - this.#headLength);
    }
    if (piece.length >= TAIL_BYTES) {
      this.#lastPiece = piece;
      return;
    }
    this.#tail = Buffer.concat([this.tail, piece]).subarray(-TAIL_BYTES);
  }

  get head(): Buffer {
    this.#head ??= Buffer.concat(this.#headParts);
    this.#headParts = [this.#head];
    return this.#head;
  }

  get tail(): Buffer {
    const last = this.#lastPiece;
    if (last) {
      this.#tail = last.subarray(last.length - TAIL_BYTES);
      this.#lastPiece = undefined;
    }
    return this.#tail;
  }

  /** The image's size when it is a PNG proven to hold (as written) nothing but decodable pixels; else undefined. */
  plainPng(): Promise<PlainPng | undefined> {
    return this.#png.verdict();
  }

  dispose(): void {
    this.#png.dispose();
  }
}
