import { crc32, deflateSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';

/**
 * Image bytes built in code, so the repository carries no binary fixtures. Every one is fully
 * decodable (the bridge decodes each upload); tests damage them on purpose.
 */

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typeAndData = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndData));
  return Buffer.concat([length, typeAndData, crc]);
}

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export interface PngOptions {
  /** Random pixels do not compress: use it to make a file of a given size. */
  noise?: boolean;
  /** Written into IHDR only; the pixel data stays 1×1 (a "decompression bomb" header). */
  declaredWidth?: number;
  declaredHeight?: number;
}

/** An 8-bit RGB PNG. */
export function makePng(width: number, height: number, options: PngOptions = {}): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(options.declaredWidth ?? width, 0);
  ihdr.writeUInt32BE(options.declaredHeight ?? height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  const rowBytes = width * 3;
  const raw = options.noise ? randomBytes((rowBytes + 1) * height) : Buffer.alloc((rowBytes + 1) * height, 0x7f);
  for (let y = 0; y < height; y++) raw[y * (rowBytes + 1)] = 0; // filter byte "none" on every row
  const idat = deflateSync(raw, { level: options.noise ? 0 : 6 });
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', ihdr), pngChunk('IDAT', idat), pngChunk('IEND', Buffer.alloc(0))]);
}

/** A noise PNG of at least `bytes` bytes (square, RGB). */
export function makePngOfSize(bytes: number): Buffer {
  const side = Math.ceil(Math.sqrt(bytes / 3));
  return makePng(side, side, { noise: true });
}

function jpegSegment(marker: number, data: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head[0] = 0xff;
  head[1] = marker;
  head.writeUInt16BE(data.length + 2, 2);
  return Buffer.concat([head, data]);
}

/**
 * A baseline greyscale JPEG of one flat colour. Each 8×8 block is coded as "DC difference 0, end
 * of block" with one-symbol Huffman tables (code "0" for both), i.e. two zero bits per block.
 */
export function makeJpeg(width: number, height: number): Buffer {
  const quant = jpegSegment(0xdb, Buffer.concat([Buffer.from([0x00]), Buffer.alloc(64, 1)]));
  const sof = Buffer.alloc(9);
  sof[0] = 8; // precision
  sof.writeUInt16BE(height, 1);
  sof.writeUInt16BE(width, 3);
  sof[5] = 1; // components
  sof[6] = 1; // component id
  sof[7] = 0x11; // sampling 1×1
  sof[8] = 0; // quant table 0
  const oneSymbolTable = (tableClassAndId: number, symbol: number): Buffer => {
    const counts = Buffer.alloc(16);
    counts[0] = 1; // one code of length 1
    return Buffer.concat([Buffer.from([tableClassAndId]), counts, Buffer.from([symbol])]);
  };
  const dht = jpegSegment(0xc4, Buffer.concat([oneSymbolTable(0x00, 0x00), oneSymbolTable(0x10, 0x00)]));
  const sos = jpegSegment(0xda, Buffer.from([1, 1, 0x00, 0, 63, 0]));
  const blocks = Math.ceil(width / 8) * Math.ceil(height / 8);
  const bits = blocks * 2;
  const scan = Buffer.alloc(Math.ceil(bits / 8), 0);
  if (bits % 8 !== 0) scan[scan.length - 1] = (1 << (8 - (bits % 8))) - 1; // pad with one bits
  return Buffer.concat([
    Buffer.from([0xff, 0xd8]),
    quant,
    jpegSegment(0xc0, sof),
    dht,
    sos,
    scan,
    Buffer.from([0xff, 0xd9]),
  ]);
}

/**
 * LZW-coded GIF image data: `count` pixels of one palette colour, minimum code size 2. A run of one
 * colour codes as strings of growing length (1, 2, 3, … pixels; once the 4096-entry table is full,
 * 4091 pixels per 12-bit code), so 64 million pixels take about 26 KB — the way real GIF bombs are
 * made. Decoders read it like any other GIF.
 */
export function gifRunData(count: number, colour = 1): Buffer {
  const out: number[] = [];
  let bits = 0;
  let bitCount = 0;
  let size = 3;
  let next = 6; // 4 = clear, 5 = end of information
  const emit = (code: number): void => {
    bits |= code << bitCount;
    bitCount += size;
    for (; bitCount >= 8; bitCount -= 8, bits >>>= 8) out.push(bits & 0xff);
  };
  emit(4);
  let run = 1;
  for (let left = count; left > 0; ) {
    const take = Math.min(run, left);
    emit(take === 1 ? colour : take + 4); // code 6 is 2 pixels, 7 is 3 pixels, …
    left -= take;
    if (next < 4096) {
      next++;
      // The decoder adds its entries one code later than the encoder, hence the "+ 1".
      if (next === (1 << size) + 1 && size < 12) size++;
      run = take + 1;
    }
  }
  emit(5);
  if (bitCount > 0) out.push(bits & 0xff);
  const blocks: number[] = [2];
  for (let offset = 0; offset < out.length; offset += 255) {
    const block = out.slice(offset, offset + 255);
    blocks.push(block.length, ...block);
  }
  blocks.push(0);
  return Buffer.from(blocks);
}

export interface GifOptions {
  /** The logical screen size, when it should differ from the frame's (a "screen/frame mismatch" bomb). */
  screenWidth?: number;
  screenHeight?: number;
}

/** A one-frame GIF87a with a two-colour table, all white (fully decodable). */
export function makeGif(width: number, height: number, options: GifOptions = {}): Buffer {
  const screen = Buffer.alloc(7);
  screen.writeUInt16LE(options.screenWidth ?? width, 0);
  screen.writeUInt16LE(options.screenHeight ?? height, 2);
  screen[4] = 0x80; // global colour table, 2 entries
  const palette = Buffer.from([0, 0, 0, 255, 255, 255]);
  const descriptor = Buffer.alloc(10);
  descriptor[0] = 0x2c;
  descriptor.writeUInt16LE(width, 5);
  descriptor.writeUInt16LE(height, 7);
  return Buffer.concat([Buffer.from('GIF87a', 'ascii'), screen, palette, descriptor, gifRunData(width * height), Buffer.from([0x3b])]);
}

/** Writes values LSB-first, as the VP8L bitstream wants them. */
class BitWriter {
  readonly #bytes: number[] = [];
  #bit = 0;
  write(value: number, bits: number): this {
    for (let i = 0; i < bits; i++) {
      if (this.#bit % 8 === 0) this.#bytes.push(0);
      if ((value >>> i) & 1) this.#bytes[this.#bytes.length - 1]! |= 1 << this.#bit % 8;
      this.#bit++;
    }
    return this;
  }
  bytes(): Buffer {
    return Buffer.from(this.#bytes);
  }
}

/**
 * A lossless WebP (VP8L) of one flat colour: no transforms, and each of the five prefix codes is a
 * "simple code" with one symbol, so every pixel costs zero bits. Fully decodable.
 */
export function makeWebp(width: number, height: number): Buffer {
  const bits = new BitWriter().write(0x2f, 8).write(width - 1, 14).write(height - 1, 14).write(0, 1).write(0, 3);
  bits.write(0, 1).write(0, 1).write(0, 1); // no transform, no colour cache, no meta prefix codes
  for (const symbol of [0x80, 0x40, 0x20, 0xff]) bits.write(1, 1).write(0, 1).write(1, 1).write(symbol, 8); // green, red, blue, alpha
  bits.write(1, 1).write(0, 1).write(0, 1).write(0, 1); // distance: one symbol, 0
  let vp8l = bits.bytes();
  if (vp8l.length % 2 === 1) vp8l = Buffer.concat([vp8l, Buffer.alloc(1)]); // RIFF chunks are padded to even sizes
  const chunkHead = Buffer.alloc(8);
  chunkHead.write('VP8L', 0, 'ascii');
  chunkHead.writeUInt32LE(vp8l.length, 4);
  const body = Buffer.concat([Buffer.from('WEBP', 'ascii'), chunkHead, vp8l]);
  const riff = Buffer.alloc(8);
  riff.write('RIFF', 0, 'ascii');
  riff.writeUInt32LE(body.length, 4);
  return Buffer.concat([riff, body]);
}

export const SVG = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>');

/** A looping GIF89a of `frames` frames of width × height, alternating black and white (no two alike). */
export function makeAnimatedGif(width: number, height: number, frames: number): Buffer {
  const screen = Buffer.alloc(7);
  screen.writeUInt16LE(width, 0);
  screen.writeUInt16LE(height, 2);
  screen[4] = 0x80;
  const parts: Buffer[] = [Buffer.from('GIF89a', 'ascii'), screen, Buffer.from([0, 0, 0, 255, 255, 255])];
  parts.push(Buffer.from([0x21, 0xff, 0x0b, ...Buffer.from('NETSCAPE2.0', 'ascii'), 0x03, 0x01, 0x00, 0x00, 0x00]));
  const descriptor = Buffer.alloc(10);
  descriptor[0] = 0x2c;
  descriptor.writeUInt16LE(width, 5);
  descriptor.writeUInt16LE(height, 7);
  for (let frame = 0; frame < frames; frame++) {
    parts.push(Buffer.from([0x21, 0xf9, 0x04, 0x00, 0x0a, 0x00, 0x00, 0x00]), descriptor, gifRunData(width * height, frame % 2));
  }
  parts.push(Buffer.from([0x3b]));
  return Buffer.concat(parts);
}

function u32(...values: number[]): Buffer {
  const bytes = Buffer.alloc(values.length * 4);
  values.forEach((value, index) => bytes.writeUInt32BE(value, index * 4));
  return bytes;
}

/**
 * An animated PNG (APNG): IHDR width × height, an acTL announcing `frames`, and each frame a
 * greyscale fcTL + IDAT/fdAT of `frameWidth` × `frameHeight` (default: the whole canvas).
 */
export function makeApng(width: number, height: number, frames: number, frameWidth = width, frameHeight = height): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  const pixels = (w: number, h: number, value: number): Buffer => {
    const raw = Buffer.alloc((w + 1) * h, value);
    for (let y = 0; y < h; y++) raw[y * (w + 1)] = 0;
    return deflateSync(raw);
  };
  let sequence = 0;
  const frameControl = (w: number, h: number): Buffer => {
    const data = Buffer.alloc(26);
    data.writeUInt32BE(sequence++, 0);
    data.writeUInt32BE(w, 4);
    data.writeUInt32BE(h, 8);
    data.writeUInt16BE(1, 20); // delay 1/10 s
    data.writeUInt16BE(10, 22);
    return pngChunk('fcTL', data);
  };
  const parts: Buffer[] = [PNG_SIGNATURE, pngChunk('IHDR', ihdr), pngChunk('acTL', u32(frames, 0)), frameControl(width, height), pngChunk('IDAT', pixels(width, height, 0))];
  for (let frame = 1; frame < frames; frame++) {
    parts.push(frameControl(frameWidth, frameHeight), pngChunk('fdAT', Buffer.concat([u32(sequence++), pixels(frameWidth, frameHeight, frame % 256)])));
  }
  parts.push(pngChunk('IEND', Buffer.alloc(0)));
  return Buffer.concat(parts);
}

export { pngChunk };

/** `png` with `chunk` inserted right after IHDR (a tEXt comment, say: the PNG then needs re-encoding to be kept). */
export function withChunkAfterHeader(png: Buffer, chunk: Buffer): Buffer {
  const afterIhdr = 8 + 25;
  return Buffer.concat([png.subarray(0, afterIhdr), chunk, png.subarray(afterIhdr)]);
}

/** `png` with its IDAT data replaced by `data` and the chunk's CRC made right again (one IDAT, as makePng writes). */
export function withIdatData(png: Buffer, data: Buffer): Buffer {
  const at = png.indexOf(Buffer.from('IDAT')) - 4;
  const length = png.readUInt32BE(at);
  return Buffer.concat([png.subarray(0, at), pngChunk('IDAT', data), png.subarray(at + 12 + length)]);
}

/** The IDAT data of a PNG with one IDAT chunk. */
export function idatData(png: Buffer): Buffer {
  const at = png.indexOf(Buffer.from('IDAT')) - 4;
  return png.subarray(at + 8, at + 8 + png.readUInt32BE(at));
}
