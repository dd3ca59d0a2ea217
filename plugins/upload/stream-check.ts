import { HEAD_BYTES, TAIL_BYTES, type KnownEnds } from './inspect-image.js';
import { PngStream, type PlainPng } from './png-stream.js';

/**
 * Watches a received file's bytes as they stream to disk, so nothing needs to read it back: keeps
 * its first HEAD_BYTES and last TAIL_BYTES (type sniffing, the completeness check) and runs the
 * PNG proof (png-stream.ts) that lets a plain PNG be kept as it came.
 */
export class StreamCheck implements KnownEnds {
  #headParts: Buffer[] = [];
  #headLength = 0;
  #head: Buffer | undefined;
  #tail: Buffer = Buffer.alloc(0);
  readonly #png: PngStream;

  constructor(limits: { maxPixels: number; maxTotalPixels: number }) {
    this.#png = new PngStream(Math.min(limits.maxPixels, limits.maxTotalPixels));
  }

  push(chunk: Buffer): void {
    if (this.#headLength < HEAD_BYTES) {
      // Parser chunks are not reused once written: keeping a reference is enough.
      this.#headParts.push(chunk.subarray(0, HEAD_BYTES - this.#headLength));
      this.#headLength += Math.min(chunk.length, HEAD_BYTES - this.#headLength);
    }
    this.#tail = chunk.length >= TAIL_BYTES ? chunk.subarray(chunk.length - TAIL_BYTES) : Buffer.concat([this.#tail, chunk]).subarray(-TAIL_BYTES);
    this.#png.push(chunk);
  }

  get head(): Buffer {
    this.#head ??= Buffer.concat(this.#headParts);
    this.#headParts = [this.#head];
    return this.#head;
  }

  get tail(): Buffer {
    return this.#tail;
  }

  /** The image's size when it is a PNG proven to hold nothing but decodable pixels; else undefined. */
  plainPng(): Promise<PlainPng | undefined> {
    return this.#png.verdict();
  }

  dispose(): void {
    this.#png.dispose();
  }
}
