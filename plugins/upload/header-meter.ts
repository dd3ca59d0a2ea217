/**
 * Measures each part's header section of a multipart body as it streams, before the parser (@fastify/busboy,
 * receive.ts) reads it. The parser keeps the first 80 KiB of a part's headers and drops the rest without a word, and
 * reads at most 2,000 header lines; headers over a limit are the client over a limit, as our answers promise: a 413,
 * given here before the parser sees them. Nothing is parsed here: the meter finds each boundary
 * (`Buffer.indexOf`, across chunks) and counts the bytes up to the blank line that ends the headers.
 * Headers over the limit are read on (not given to the parser) until they end — then 413 "headers of a part are
 * larger" — or until the body passes its own limit (the receiver's 413 for the whole body), so that endless
 * headers are answered as a body over every limit.
 */

/**
 * The most bytes of a part's header lines and the blank line after them, far inside the parser's 80 KiB, so the
 * parser always reads headers whole and what is over is always ours to answer. (Browsers send ~100–300 bytes.)
 */
export const MAX_HEADER_BYTES = 8 * 1024;

const CRLF_CRLF = Buffer.from('\r\n\r\n');
const CR = 13;
const LF = 10;
const HYPHEN = 45;
const EMPTY = Buffer.alloc(0);

export class HeadersTooLarge extends Error {
  constructor() {
    super(`the headers of a part are larger than ${MAX_HEADER_BYTES} bytes`);
    this.name = 'HeadersTooLarge';
  }
}

type State = 'data' | 'after-boundary' | 'headers' | 'over' | 'end';

export class HeaderMeter {
  readonly #delimiter: Buffer;
  /** Its first 7 bytes (or all, when shorter): what is searched for (see #data). */
  readonly #prefix: Buffer;
  #state: State = 'data';
  /** The last bytes seen (of the data, or of the headers), to find a delimiter or a blank line split across chunks. */
  #tail: Buffer = Buffer.from('\r\n');
  #afterFirst = -1;
  #headerBytes = 0;

  /** `boundary` as the Content-Type names it. The body's first boundary is read as if a CRLF came before it (busboy does too). */
  constructor(boundary: string) {
    this.#delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
    this.#prefix = this.#delimiter.subarray(0, 7);
  }

  /** The next bytes of the body; false when they must not reach busboy (headers over the limit). Throws HeadersTooLarge once such headers end. */
  push(chunk: Buffer): boolean {
    const pass = this.#state !== 'over';
    let at = 0;
    while (at < chunk.length) {
      switch (this.#state) {
        case 'end':
          return pass;
        case 'data':
          at = this.#data(chunk, at);
          break;
        case 'after-boundary':
          at = this.#afterBoundary(chunk, at);
          break;
        case 'headers':
        case 'over':
          at = this.#headers(chunk, at);
          if (this.#state === 'over') return false;
          break;
      }
    }
    return pass;
  }

  #data(chunk: Buffer, at: number): number {
    const delimiter = this.#delimiter;
    const keep = delimiter.length - 1;
    if (at === 0 && this.#tail.length > 0) {
      // A delimiter that began in the previous chunk.
      const seam = Buffer.concat([this.#tail, chunk.subarray(0, keep)]);
      const found = seam.indexOf(delimiter);
      if (found >= 0) return this.#boundaryAt(found + delimiter.length - this.#tail.length);
    }
    // The delimiter's first bytes, then the whole of it where they are: node's Buffer.indexOf searches a needle
    // under 8 bytes with a memchr for its first byte (CR, rare in image data), a longer one with Boyer-Moore,
    // measured 2–10× slower over 64 KiB socket chunks, depending on the boundary (docs/performance.md, "Uploads, wave 8").
    for (let from = at; ; ) {
      const found = chunk.indexOf(this.#prefix, from);
      // Not here, or running past the chunk's end (then it starts in the tail kept below).
      if (found < 0 || found + delimiter.length > chunk.length) break;
      if (chunk.compare(delimiter, 0, delimiter.length, found, found + delimiter.length) === 0) return this.#boundaryAt(found + delimiter.length);
      from = found + 1;
    }
    const rest = chunk.subarray(at);
    const last = rest.length >= keep ? rest.subarray(rest.length - keep) : Buffer.concat([at === 0 ? this.#tail : EMPTY, rest]).subarray(-keep);
    // Only a CR can start a delimiter: the tail is kept from the first CR on (usually none: nothing to copy).
    const cr = last.indexOf(CR);
    this.#tail = cr < 0 ? EMPTY : Buffer.from(last.subarray(cr));
    return chunk.length;
  }

  #boundaryAt(end: number): number {
    this.#state = 'after-boundary';
    this.#afterFirst = -1;
    return end;
  }

  /** CRLF: headers follow; `--`: the body is closed; anything else: the delimiter was data (busboy reads it so too). */
  #afterBoundary(chunk: Buffer, at: number): number {
    const byte = chunk[at]!;
    if (this.#afterFirst < 0) {
      if (byte !== HYPHEN && byte !== CR) return this.#backToData(at);
      this.#afterFirst = byte;
      return at + 1;
    }
    if (this.#afterFirst === HYPHEN && byte === HYPHEN) {
      this.#state = 'end';
    } else if (this.#afterFirst === CR && byte === LF) {
      this.#state = 'headers';
      this.#headerBytes = 0;
      // The headers' end is the first CRLF CRLF counting this line break (no headers at all: a CRLF at once).
      this.#tail = Buffer.from('\r\n');
    } else {
      return this.#backToData(at);
    }
    return at + 1;
  }

  #backToData(at: number): number {
    this.#state = 'data';
    this.#tail = EMPTY;
    return at;
  }

  /** Header bytes up to the blank line, counted; over the limit, read on to the blank line, then refused. */
  #headers(chunk: Buffer, at: number): number {
    let end = -1;
    if (this.#tail.length > 0) {
      const seam = Buffer.concat([this.#tail, chunk.subarray(at, at + 3)]);
      const found = seam.indexOf(CRLF_CRLF);
      if (found >= 0) end = at + found + 4 - this.#tail.length;
    }
    if (end < 0) {
      const found = chunk.indexOf(CRLF_CRLF, at);
      if (found >= 0) end = found + 4;
    }
    if (end < 0) {
      this.#headerBytes += chunk.length - at;
      if (this.#headerBytes > MAX_HEADER_BYTES) this.#state = 'over';
      this.#tail = lastBytes(this.#tail, chunk.subarray(at), 3);
      return chunk.length;
    }
    // The CRLF before the headers is not theirs (seeded in the tail): busboy counts from after it.
    this.#headerBytes += end - at;
    if (this.#state === 'over' || this.#headerBytes > MAX_HEADER_BYTES) throw new HeadersTooLarge();
    this.#state = 'data';
    this.#tail = EMPTY;
    return end;
  }
}

/** The last `count` bytes of `before` followed by `bytes` (a copy: chunks are not kept). */
function lastBytes(before: Buffer, bytes: Buffer, count: number): Buffer {
  if (bytes.length >= count) return Buffer.from(bytes.subarray(bytes.length - count));
  return Buffer.from(Buffer.concat([before, bytes]).subarray(-count));
}
