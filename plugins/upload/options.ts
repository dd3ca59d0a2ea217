import type { JsonSchema } from '../../core/plugin.js';

export const IMAGE_TYPES = ['png', 'jpg', 'webp', 'gif'] as const;
export type ImageType = (typeof IMAGE_TYPES)[number];

export interface UploadOptions {
  /** Largest single file. */
  maxFileBytes: number;
  /** Largest sum of all files of one request. */
  maxTotalBytes: number;
  /** Most file parts, and separately most text fields, in one request. */
  maxParts: number;
  /** Largest sum of the (ignored) text fields of one request. */
  maxFieldsBytes: number;
  allowedTypes: ImageType[];
  /** width × height of one frame above this is refused (decompression bombs). */
  maxPixels: number;
  /** Most frames of an animated image (GIF, WebP). */
  maxFrames: number;
  /** frames × width × height above this is refused: what decoding the whole file costs. */
  maxTotalPixels: number;
  /** Unused uploads older than this are deleted. */
  expireAfterMs: number;
  /** How often expired uploads are looked for. */
  sweepIntervalMs: number;
}

const MiB = 1024 * 1024;

export const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    maxFileBytes: { type: 'integer', minimum: 1, default: 20 * MiB, description: 'Largest single uploaded file, in bytes.' },
    maxTotalBytes: {
      type: 'integer',
      minimum: 1,
      default: 64 * MiB,
      description: 'Largest sum of all files in one request, in bytes (the smaller of this and maxFileBytes bounds a single file).',
    },
    maxParts: {
      type: 'integer',
      minimum: 1,
      maximum: 1000,
      default: 16,
      description: 'Most file parts in one request; also the most text fields (which are ignored).',
    },
    maxFieldsBytes: {
      type: 'integer',
      minimum: 0,
      default: 8192,
      description: 'Largest sum of non-file (text) fields in one request, in bytes; their values are ignored.',
    },
    allowedTypes: {
      type: 'array',
      items: { enum: [...IMAGE_TYPES] },
      minItems: 1,
      uniqueItems: true,
      default: [...IMAGE_TYPES],
      description: 'Image types accepted, as sniffed from the bytes (never from the file name or declared type).',
    },
    maxPixels: {
      type: 'integer',
      minimum: 1,
      default: 40_000_000,
      description: 'Largest width × height of one frame, as decoded (guards against decompression bombs).',
    },
    maxFrames: {
      type: 'integer',
      minimum: 1,
      default: 1000,
      description: 'Most frames of an animated GIF or WebP.',
    },
    maxTotalPixels: {
      type: 'integer',
      minimum: 1,
      default: 40_000_000,
      description: 'Largest frames × width × height: the pixels decoding the whole file produces (an animation costs no more than the largest still).',
    },
    expireAfterMs: {
      type: 'integer',
      minimum: 1,
      default: 24 * 60 * 60 * 1000,
      description: 'Unused uploads older than this are deleted; an upload a generation used is kept.',
    },
    sweepIntervalMs: {
      type: 'integer',
      minimum: 10,
      default: 10 * 60 * 1000,
      description: 'How often expired uploads are looked for.',
    },
  },
};
