import { open, type FileHandle } from 'node:fs/promises';
import { imageSize } from 'image-size';
import type { Metadata } from 'sharp';
import { loadSharp } from './sharp.js';
import type { ImageType } from './options.js';
import { ImageRejected } from './rejection.js';

export interface ImageInfo {
  type: ImageType;
  contentType: string;
  width: number;
  /** Height of one frame. */
  height: number;
  /** 1 for a still image. */
  frames: number;
}

export interface InspectLimits {
  allowedTypes: readonly ImageType[];
  maxPixels: number;
  maxFrames: number;
  maxTotalPixels: number;
}

export const CONTENT_TYPES: Readonly<Record<ImageType, string>> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
};

/** How much of the start of a file we read to sniff its type. */
export const HEAD_BYTES = 64 * 1024;

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** A complete PNG ends with the empty IEND chunk: length 0, "IEND", its fixed CRC. */
const PNG_IEND = Buffer.from([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);
/** How much of the end of a file the completeness check looks at. */
export const TAIL_BYTES = PNG_IEND.length;

/** A file's first HEAD_BYTES (or all of it) and last TAIL_BYTES (or all of it). */
export interface KnownEnds {
  readonly head: Buffer;
  readonly tail: Buffer;
}

/** The type from the file's first bytes (magic numbers), never from its name or declared type. */
function sniff(head: Buffer): ImageType | undefined {
  if (head.length >= 8 && head.subarray(0, 8).equals(PNG_SIGNATURE)) return 'png';
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpg';
  if (head.length >= 6 && /^GIF8[79]a$/.test(head.toString('latin1', 0, 6))) return 'gif';
  if (head.length >= 12 && head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  return undefined;
}

/** What image-size calls a type we do not sniff ourselves (svg, bmp, tiff...), for the message. */
function foreignType(head: Buffer): string | undefined {
  try {
    return imageSize(head).type;
  } catch {
    return undefined;
  }
}

async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, position);
  return buffer.subarray(0, bytesRead);
}

/** How sharp names our types (its `format`). */
const SHARP_FORMATS: Readonly<Record<ImageType, string>> = { png: 'png', jpg: 'jpeg', webp: 'webp', gif: 'gif' };

interface Geometry {
  width: number;
  /** Height of one frame. */
  height: number;
  frames: number;
}

/**
 * Width, frame height and frame count as libvips will decode them: its GIF loader grows the canvas
 * to hold a frame larger than the logical screen (so a 1×1 screen with an 8000×8000 frame reads as
 * 8000×8000), and counts every frame of an animated GIF or WebP. Reads headers only.
 */
async function geometry(path: string, type: ImageType): Promise<Geometry> {
  const sharp = await loadSharp();
  let metadata: Metadata;
  try {
    metadata = await sharp(path, { animated: true, limitInputPixels: false }).metadata();
  } catch {
    throw new ImageRejected(400, `the ${type} header is unreadable`);
  }
  if (metadata.format !== SHARP_FORMATS[type]) throw new ImageRejected(400, `the ${type} header is unreadable (it reads as ${String(metadata.format)})`);
  const frames = metadata.pages ?? 1;
  return { width: metadata.width, height: metadata.pageHeight ?? metadata.height, frames };
}

function checkGeometry({ width, height, frames }: Geometry, type: ImageType, limits: InspectLimits): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ImageRejected(400, `the ${type} header states impossible dimensions ${width}×${height}`);
  }
  if (width * height > limits.maxPixels) {
    throw new ImageRejected(413, `${width}×${height} is ${width * height} pixels, over the limit of ${limits.maxPixels}`);
  }
  if (frames > limits.maxFrames) throw new ImageRejected(413, `${frames} frames, over the limit of ${limits.maxFrames}`);
  const total = frames * width * height;
  if (total > limits.maxTotalPixels) {
    throw new ImageRejected(413, `${frames} frames of ${width}×${height} decode to ${total} pixels, over the limit of ${limits.maxTotalPixels}`);
  }
}

/**
 * Whether the file is complete, judged by the structure its format guarantees at the end:
 * PNG ends with the IEND chunk, JPEG with the EOI marker (FF D9), GIF with the trailer byte 0x3B,
 * and a WebP's RIFF header states the exact file size. Data appended after the end (polyglots,
 * "motion photo" videos) fails the same check, on purpose.
 */
function checkComplete({ head, tail }: KnownEnds, size: number, type: ImageType): void {
  const endsWith = (bytes: Buffer): boolean => tail.length >= bytes.length && tail.subarray(tail.length - bytes.length).equals(bytes);
  switch (type) {
    case 'png':
      if (!endsWith(PNG_IEND)) throw new ImageRejected(400, 'the png is truncated or has trailing data (it does not end with an IEND chunk)');
      return;
    case 'jpg':
      if (!endsWith(Buffer.from([0xff, 0xd9]))) {
        throw new ImageRejected(400, 'the jpg is truncated or has trailing data (it does not end with an EOI marker)');
      }
      return;
    case 'gif':
      if (!endsWith(Buffer.from([0x3b]))) throw new ImageRejected(400, 'the gif is truncated or has trailing data (it does not end with a trailer byte)');
      return;
    case 'webp': {
      // Sniffed as WebP: the head holds at least the 12-byte RIFF header.
      const riffSize = head.readUInt32LE(4);
      if (riffSize + 8 !== size) {
        throw new ImageRejected(400, `the webp is truncated or has trailing data (its header says ${riffSize + 8} bytes, the file has ${size})`);
      }
      return;
    }
  }
}

/**
 * Checks a received file from its bytes before anything decodes it: a known image type, allowed, a
 * readable header, every limit on pixels and frames as libvips will decode them, and complete (no
 * trailing data). Reads headers and the last few bytes (`known` when they were kept as the file
 * streamed in), never the pixels: a bomb is refused before it costs anything. Throws ImageRejected with the status the client should see. The pixels are
 * decoded afterwards, by cleanImage.
 */
export async function inspectImage(path: string, size: number, limits: InspectLimits, known?: KnownEnds): Promise<ImageInfo> {
  const ends = known ?? (await readEnds(path, size));
  const type = sniff(ends.head);
  if (type === undefined) {
    const other = foreignType(ends.head);
    if (other !== undefined) throw new ImageRejected(415, `type ${other} is not allowed (allowed: ${limits.allowedTypes.join(', ')})`);
    throw new ImageRejected(400, 'not an image (its bytes match no known image format)');
  }
  if (!limits.allowedTypes.includes(type)) {
    throw new ImageRejected(415, `type ${type} is not allowed (allowed: ${limits.allowedTypes.join(', ')})`);
  }
  checkComplete(ends, size, type);
  const found = await geometry(path, type);
  checkGeometry(found, type, limits);
  return { type, contentType: CONTENT_TYPES[type], ...found };
}

/** The ends of a file on disk, for callers that did not watch it stream (StreamCheck does). */
async function readEnds(path: string, size: number): Promise<KnownEnds> {
  const handle = await open(path, 'r');
  try {
    const head = await readAt(handle, 0, Math.min(HEAD_BYTES, size));
    const tail = await readAt(handle, Math.max(0, size - TAIL_BYTES), Math.min(size, TAIL_BYTES));
    return { head, tail };
  } finally {
    await handle.close();
  }
}
