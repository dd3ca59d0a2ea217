import { writeFile } from 'node:fs/promises';
import type { OutputInfo, Sharp } from 'sharp';
import { loadSharp } from './sharp.js';
import type { ImageInfo, InspectLimits } from './inspect-image.js';
import { ImageRejected } from './rejection.js';
import type { ImageType } from './options.js';

export interface CleanImage {
  path: string;
  size: number;
  width: number;
  /** Height of one frame. */
  height: number;
  frames: number;
}

/**
 * Same type out as in, so stored names, content types and workflows do not change. JPEG and WebP
 * are lossy: quality 92 keeps the loss below what a viewer notices; PNG stays lossless, GIF keeps
 * its frames, delays and loop count. PNG uses deflate level 1: on a 16 MiB PNG of noise (the worst case) it is
 * about 5 times faster than level 6 for files about 5 % larger, and uploads are kept only for a day.
 */
const ENCODERS: Readonly<Record<ImageType, (image: Sharp) => Sharp>> = {
  png: (image) => image.png({ compressionLevel: 1 }),
  jpg: (image) => image.jpeg({ quality: 92 }),
  webp: (image) => image.webp({ quality: 92 }),
  gif: (image) => image.gif(),
};

/**
 * Decodes every pixel of every frame and writes a fresh file of the same type holding nothing but
 * those pixels: text chunks, comments, EXIF/XMP, unknown chunks and bytes after the end are gone,
 * whatever they hid. EXIF orientation is applied first, so the picture looks as it did. The decode is
 * bounded by maxTotalPixels again (inspectImage checked the headers, this guards the decoder), and
 * damaged pixel data (a truncated or corrupt stream) is refused. APNG frames are not decoded by
 * libvips: an animated PNG becomes its still default image.
 */
export async function cleanImage(path: string, image: ImageInfo, limits: Pick<InspectLimits, 'maxTotalPixels'>, outPath: string): Promise<CleanImage> {
  const sharp = await loadSharp();
  let output: { data: Buffer; info: OutputInfo };
  try {
    const decoder = sharp(path, { animated: true, failOn: 'error', limitInputPixels: limits.maxTotalPixels, sequentialRead: true }).autoOrient();
    output = await ENCODERS[image.type](decoder).toBuffer({ resolveWithObject: true });
  } catch {
    // libvips' text names its internals; the client learns what matters: the pixels are damaged.
    throw new ImageRejected(400, `the ${image.type} pixel data is damaged or truncated (it could not be decoded)`);
  }
  // Written by Node, not libvips, so a full disk surfaces as ENOSPC (a 507), not as a decoder error.
  await writeFile(outPath, output.data, { flag: 'wx' });
  const frames = output.info.pages ?? 1;
  return {
    path: outPath,
    size: output.data.length,
    width: output.info.width,
    height: output.info.pageHeight ?? output.info.height,
    frames,
  };
}
