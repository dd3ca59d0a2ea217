import { crc32, deflateSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';

/**
 * Image bytes built in code, so the repository carries no binary fixtures. PNG and JPEG are fully
 * decodable; GIF and WebP are structurally sound containers with minimal pixel data (the bridge
 * checks structure and dimensions, it does not decode pixels). Tests damage them on purpose.
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

/** A one-frame GIF87a with a two-colour table. */
export function makeGif(width: number, height: number): Buffer {
  const screen = Buffer.alloc(7);
  screen.writeUInt16LE(width, 0);
  screen.writeUInt16LE(height, 2);
  screen[4] = 0x80; // global colour table, 2 entries
  const palette = Buffer.from([0, 0, 0, 255, 255, 255]);
  const descriptor = Buffer.alloc(10);
  descriptor[0] = 0x2c;
  descriptor.writeUInt16LE(width, 5);
  descriptor.writeUInt16LE(height, 7);
  // LZW min code size 2, one sub-block holding the 3-bit codes clear (4) and end-of-information (5):
  // no pixel data, decoders show the background colour.
  const data = Buffer.from([0x02, 0x01, 0x2c, 0x00]);
  return Buffer.concat([Buffer.from('GIF87a', 'ascii'), screen, palette, descriptor, data, Buffer.from([0x3b])]);
}

/** A lossless WebP container (VP8L) declaring width × height; the bitstream is a minimal stub. */
export function makeWebp(width: number, height: number): Buffer {
  const vp8l = Buffer.alloc(5 + 4);
  vp8l[0] = 0x2f; // VP8L signature
  vp8l.writeUInt32LE(((width - 1) & 0x3fff) | (((height - 1) & 0x3fff) << 14), 1);
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
