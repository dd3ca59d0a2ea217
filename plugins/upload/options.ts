import { Type, type Static } from '@sinclair/typebox';

export const IMAGE_TYPES = ['png', 'jpg', 'webp', 'gif'] as const;
export type ImageType = (typeof IMAGE_TYPES)[number];

const MiB = 1024 * 1024;
const int = (minimum: number, def: number, description: string, maximum?: number) =>
  Type.Integer({ minimum, ...(maximum === undefined ? {} : { maximum }), default: def, description });

export const optionsSchema = Type.Object(
  {
    maxFileBytes: int(1, 20 * MiB, 'Largest single uploaded file, in bytes.'),
    maxTotalBytes: int(1, 64 * MiB, 'Largest sum of all files in one request, in bytes (the smaller of this and maxFileBytes bounds a single file).'),
    maxParts: int(1, 16, 'Most file parts in one request; also the most text fields (which are ignored).', 1000),
    maxFieldsBytes: int(0, 8192, 'Largest sum of non-file (text) fields in one request, in bytes; their values are ignored.'),
    allowedTypes: Type.Array(Type.Unsafe<ImageType>({ enum: [...IMAGE_TYPES] }), {
      minItems: 1,
      uniqueItems: true,
      default: [...IMAGE_TYPES],
      description: 'Image types accepted, as sniffed from the bytes (never from the file name or declared type).',
    }),
    /** width × height of one frame above this is refused (decompression bombs). */
    maxPixels: int(1, 40_000_000, 'Largest width × height of one frame, as decoded (guards against decompression bombs).'),
    maxFrames: int(1, 1000, 'Most frames of an animated GIF or WebP.'),
    /** frames × width × height above this is refused: what decoding the whole file costs. */
    maxTotalPixels: int(
      1,
      40_000_000,
      'Largest frames × width × height: the pixels decoding the whole file produces (an animation costs no more than the largest still).',
    ),
    expireAfterMs: int(1, 24 * 60 * 60 * 1000, 'Unused uploads older than this are deleted; an upload a generation used is kept.'),
    sweepIntervalMs: int(10, 10 * 60 * 1000, 'How often expired uploads are looked for.'),
  },
  { additionalProperties: false },
);

export type UploadOptions = Static<typeof optionsSchema>;
