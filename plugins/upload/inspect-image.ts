import { open, type FileHandle } from 'node:fs/promises';
import { imageSize } from 'image-size';
import type { ImageType } from './options.js';
import { ImageRejected } from './rejection.js';

export interface ImageInfo {
  type: ImageType;
  contentType: string;
  width: number;
  height: number;
}

export interface InspectLimits {
  allowedTypes: readonly ImageType[];
  maxPixels: number;
}

export const CONTENT_TYPES: Readonly<Record<ImageType, string>> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
};

/**
 * How much of the start of a file we read to find its dimensions. PNG, GIF and WebP state them in
 * the first 30 bytes; a JPEG states them in its SOF segment, which comes after the APPn segments
 * (EXIF, ICC profiles: up to 64 KiB each, sometimes several), so JPEG may need a bigger window.
 */
const HEADER_WINDOWS = [64 * 1024, 1024 * 1024, 4 * 1024 * 1024];

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** A complete PNG ends with the empty IEND chunk: length 0, "IEND", its fixed CRC. */
const PNG_IEND = Buffer.from([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);

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

async function dimensions(handle: FileHandle, size: number, type: ImageType): Promise<{ width: number; height: number }> {
  let lastError: unknown;
  for (const window of HEADER_WINDOWS) {
    const head = await readAt(handle, 0, Math.min(window, size));
    try {
      const result = imageSize(head);
      if (result.type !== type) throw new Error(`the header reads as ${String(result.type)}`);
      return { width: result.width, height: result.height };
    } catch (error) {
      lastError = error;
    }
    if (head.length >= size) break;
  }
  throw new ImageRejected(400, `the ${type} header is unreadable (${(lastError as Error).message})`);
}

/**
 * Whether the file is complete, judged by the structure its format guarantees at the end:
 * PNG ends with the IEND chunk, JPEG with the EOI marker (FF D9), GIF with the trailer byte 0x3B,
 * and a WebP's RIFF header states the exact file size. Data appended after the end (polyglots,
 * "motion photo" videos) fails the same check, on purpose.
 */
async function checkComplete(handle: FileHandle, size: number, type: ImageType): Promise<void> {
  const tail = await readAt(handle, Math.max(0, size - PNG_IEND.length), Math.min(size, PNG_IEND.length));
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
      const riffSize = (await readAt(handle, 4, 4)).readUInt32LE(0);
      if (riffSize + 8 !== size) {
        throw new ImageRejected(400, `the webp is truncated or has trailing data (its header says ${riffSize + 8} bytes, the file has ${size})`);
      }
      return;
    }
  }
}

/**
 * Checks a received file from its bytes: a known image type, allowed, a readable header, a pixel
 * count under the limit, and complete. Reads only the header and the last few bytes.
 * Throws ImageRejected with the status the client should see.
 */
export async function inspectImage(path: string, size: number, limits: InspectLimits): Promise<ImageInfo> {
  const handle = await open(path, 'r');
  try {
    const head = await readAt(handle, 0, Math.min(HEADER_WINDOWS[0]!, size));
    const type = sniff(head);
    if (type === undefined) {
      const other = foreignType(head);
      if (other !== undefined) throw new ImageRejected(415, `type ${other} is not allowed (allowed: ${limits.allowedTypes.join(', ')})`);
      throw new ImageRejected(400, 'not an image (its bytes match no known image format)');
    }
    if (!limits.allowedTypes.includes(type)) {
      throw new ImageRejected(415, `type ${type} is not allowed (allowed: ${limits.allowedTypes.join(', ')})`);
    }
    const { width, height } = await dimensions(handle, size, type);
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
      throw new ImageRejected(400, `the ${type} header states impossible dimensions ${width}×${height}`);
    }
    if (width * height > limits.maxPixels) {
      throw new ImageRejected(413, `${width}×${height} is ${width * height} pixels, over the limit of ${limits.maxPixels}`);
    }
    await checkComplete(handle, size, type);
    return { type, contentType: CONTENT_TYPES[type], width, height };
  } finally {
    await handle.close();
  }
}
