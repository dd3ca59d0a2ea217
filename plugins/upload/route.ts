import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { removeFile } from './incoming-dir.js';
import { pipeline } from 'node:stream/promises';
import { idempotencyKeyOf, idempotencyScope, IdempotentRequests, requestFingerprint } from '../../contracts/idempotency.js';
import type { IdempotencyStore } from '../../contracts/storage.js';
import { Type } from '@sinclair/typebox';
import type { Context } from 'koa';
import type { AccessControl, Principal } from '../../contracts/auth.js';
import { badRequest, isBridgeError, unsupportedMediaType } from '../../core/errors.js';
import { ERROR_BODY, CLIENT_ID } from '../../contracts/schemas.js';
import type { HttpRouteDefinition } from '../../core/plugin.js';
import { cleanImage } from './clean-image.js';
import { insufficientStorage, isDiskFull } from './disk-full.js';
import { CONTENT_TYPES, inspectImage, type ImageInfo } from './inspect-image.js';
import type { AcceptedFile, UploadLibrary } from './library.js';
import type { UploadOptions } from './options.js';
import { receiveFiles, type ReceivedFile } from './receive.js';
import { ImageRejected, rejectPart } from './rejection.js';

export interface UploadRouteDeps {
  library: UploadLibrary;
  incomingDir: string;
  options: UploadOptions;
  /** Looked up per request: the auth plugin is optional. */
  access: () => AccessControl | undefined;
  /** Where Idempotency-Key claims are kept. */
  idempotency: IdempotencyStore;
}

/** Field names become JSON keys and are stored; they never touch the file system. */
const MAX_FIELD_NAME = 200;

function checkFields(files: readonly ReceivedFile[]): void {
  if (files.length === 0) throw badRequest('no file parts: send at least one file as multipart/form-data');
  const seen = new Set<string>();
  for (const { field } of files) {
    if (field === null || field === '') throw rejectPart(400, null, 'every file part needs a field name');
    if (field.length > MAX_FIELD_NAME) throw rejectPart(400, field.slice(0, 40) + '…', `field names are at most ${MAX_FIELD_NAME} characters`);
    if (seen.has(field)) throw rejectPart(400, field, 'the field name is used by more than one file (the answer maps each field to one stored name)');
    seen.add(field);
  }
}

/** A PNG proven plain while it streamed in (png-stream.ts): kept as it came. */
async function plainPng(file: ReceivedFile, options: UploadOptions): Promise<ImageInfo | undefined> {
  if (!file.check || !options.allowedTypes.includes('png')) return undefined;
  const size = await file.check.plainPng();
  return size && { type: 'png', contentType: CONTENT_TYPES.png, ...size, frames: 1 };
}

/**
 * Keeps a PNG proven, while it streamed in, to hold nothing but decodable pixels within the limits
 * as it came. Every other file: its headers are checked (bombs are refused before any decoding),
 * then it is decoded and a re-encoded copy that holds nothing but pixels is kept. One file at a
 * time: decoding is the expensive part. Every copy written is pushed to `written` at once, so the
 * caller can delete it whatever happens.
 */
export async function inspectAll(files: readonly ReceivedFile[], options: UploadOptions, written: string[]): Promise<AcceptedFile[]> {
  const accepted: AcceptedFile[] = [];
  for (const file of files) {
    const field = file.field!;
    try {
      const plain = await plainPng(file, options);
      if (plain) {
        accepted.push({ field, path: file.path, size: file.size, image: plain });
        continue;
      }
      const image = await inspectImage(file.path, file.size, options, file.check);
      const cleanPath = `${file.path}.clean`;
      written.push(cleanPath);
      const clean = await cleanImage(file.path, image, options, cleanPath);
      accepted.push({ field, path: clean.path, size: clean.size, image: { ...image, width: clean.width, height: clean.height, frames: clean.frames } });
    } catch (error) {
      if (error instanceof ImageRejected) throw rejectPart(error.status, field, error.reason, error);
      throw error;
    }
  }
  return accepted;
}

/** Hex SHA-256 of a received file (what an Idempotency-Key compares, with the field names). */
async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

const STORED_NAME_SCHEMA = { type: 'string', pattern: '^cb_[A-Za-z0-9_-]+\\.(png|jpg|webp|gif)$' };

const QUERY = Type.Object({ clientId: CLIENT_ID });

export function uploadRoute({ library, incomingDir, options, access, idempotency }: UploadRouteDeps): HttpRouteDefinition<typeof QUERY> {
  const idempotent = new IdempotentRequests(() => idempotency);

  const handleUpload = async (ctx: Context, clientId: string, principal: Principal): Promise<void> => {
    if (!ctx.is('multipart/form-data')) throw unsupportedMediaType('send the files as multipart/form-data');
    const idempotencyKey = idempotencyKeyOf(ctx.headers);
    await access()?.claimClient(clientId, principal);

    const upload = await receiveFiles(ctx.req, incomingDir, options);
    const cleaned: string[] = [];
    /** Incoming files the library moved into the store and deleted: no second unlink for them. */
    const stored = new Set<string>();
    try {
      checkFields(upload.files);
      const keep = async () => {
        const accepted = await inspectAll(upload.files, options, cleaned);
        const body = await library.keep(accepted, clientId, principal);
        for (const file of accepted) stored.add(file.path);
        return { status: 200, body };
      };
      if (idempotencyKey === undefined) {
        ctx.body = (await keep()).body;
        return;
      }
      // Same key, same files under the same fields: the first answer (the same stored names), nothing stored twice.
      const files = await Promise.all(upload.files.map(async (file) => [file.field, await sha256Of(file.path)]));
      const result = await idempotent.run({
        scope: idempotencyScope(principal, clientId),
        key: idempotencyKey,
        fingerprint: requestFingerprint({ route: 'upload', clientId, files: files.sort() }),
        work: keep,
      });
      if (result.replayed) ctx.set('Idempotent-Replayed', 'true');
      ctx.status = result.status;
      ctx.body = result.body;
    } finally {
      // After keep() the clean copies are in the blob store; this removes whatever is still in the incoming folder.
      await upload.discard(stored);
      await Promise.all(cleaned.filter((path) => !stored.has(path)).map((path) => removeFile(path)));
    }
  };

  return {
    method: 'post',
    path: '/upload',
    summary: 'Upload images (multipart/form-data)',
    description:
      'Send any number of image files as multipart/form-data, each under a field name you choose. ' +
      'Each file is checked from its bytes (type allow-list, readable header, pixel and frame limits, complete file), ' +
      'decoded and re-encoded so that nothing but its pixels is kept (a PNG made of nothing but its pixels and colour chunks, ' +
      'whose image data was checked to decode whole, is kept as sent, less any text chunks before its image data), ' +
      'and stored under a fresh name, returned per field. ' +
      'If any file is refused, nothing is kept. ' +
      'Use a stored name as the value of an image input when you generate with the same clientId. ' +
      'An `Idempotency-Key` header makes retries safe: the same key with the same files under the same fields within 24 h ' +
      'answers the first answer (the same stored names, header `Idempotent-Replayed: true`) and stores nothing. ' +
      `Limits: ${options.maxFileBytes} bytes per file, ${options.maxTotalBytes} bytes per request, ` +
      `${options.maxParts} files, ${options.maxPixels} pixels per frame, ${options.maxFrames} frames and ` +
      `${options.maxTotalPixels} pixels in all frames of an image; types: ${options.allowedTypes.join(', ')}.`,
    tags: ['uploads'],
    scope: 'client',
    documentBodyType: 'multipart/form-data',
    documentBody: () => ({
      type: 'object',
      description: 'Any number of file parts, each under a field name of your choice.',
      additionalProperties: { type: 'string', contentMediaType: 'application/octet-stream' },
    }),
    query: QUERY,
    responses: {
      '200': {
        description: 'Field name → stored name.',
        schema: { type: 'object', additionalProperties: STORED_NAME_SCHEMA },
        example: { upload_0: 'cb_7f3k2Qx9LmN0pR4sT6uV8wY1.png' },
      },
      '400': { description: 'Missing clientId, no file parts, or a file that is not an image, unreadable or truncated.', schema: ERROR_BODY },
      '409': { description: 'A request with this Idempotency-Key is still running in another bridge process (Retry-After).', schema: ERROR_BODY },
      '413': { description: 'A file, the request or an image (pixels) over a limit, or too many parts.', schema: ERROR_BODY },
      '415': { description: 'Not multipart/form-data, or an image type that is not allowed.', schema: ERROR_BODY },
      '422': { description: 'This Idempotency-Key was used with other files.', schema: ERROR_BODY },
      '507': { description: 'The server has no disk space left for the upload (not the client\'s fault; retry later).', schema: ERROR_BODY },
    },
    async handler(ctx, { query, principal }) {
      try {
        await handleUpload(ctx, query.clientId, principal);
      } catch (error) {
        // Refused before the body was read to its end: close the connection after the answer
        // instead of reading (and throwing away) whatever the client still sends.
        if (!ctx.req.complete) ctx.set('Connection', 'close');
        // A full disk is ours, wherever it struck (receiving, cleaning, storing): never a 4xx.
        if (!isBridgeError(error) && isDiskFull(error)) throw insufficientStorage(error);
        throw error;
      }
    },
  };
}
