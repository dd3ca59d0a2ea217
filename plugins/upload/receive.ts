import type { IncomingMessage } from 'node:http';
import { removeFile } from './incoming-dir.js';
import { join } from 'node:path';
import formidable, { errors as formidableErrors, multipart } from 'formidable';
import type { File as FormidableFile, Part } from 'formidable';
import { badRequest, BridgeError, payloadTooLarge } from '../../core/errors.js';
import { insufficientStorage, isDiskFull } from './disk-full.js';
import { IncomingFile } from './incoming-file.js';
import { incomingName } from './names.js';
import { rejectPart } from './rejection.js';
import { StreamCheck } from './stream-check.js';

export interface ReceiveLimits {
  maxFileBytes: number;
  maxTotalBytes: number;
  maxParts: number;
  maxFieldsBytes: number;
  /** For the PNG proof made while the file streams in (stream-check.ts). */
  maxPixels: number;
  maxTotalPixels: number;
}

export interface ReceivedFile {
  /** The multipart field name; null when the part had none. */
  field: string | null;
  /** Absolute path inside the incoming folder. */
  path: string;
  size: number;
  /** What was learnt from its bytes as they were written (absent for bytes that did not stream in). */
  check?: StreamCheck;
}

export interface ReceivedUpload {
  files: ReceivedFile[];
  /** Deletes every file of this request still in the incoming folder, but for `gone` (paths already moved or deleted). */
  discard(gone?: ReadonlySet<string>): Promise<void>;
}

interface FormidableFailure {
  code?: number;
  httpCode?: number;
  message?: string;
}

/** Translates formidable's errors into client errors naming the part being read when it failed. */
function translate(error: unknown, field: string | null, limits: ReceiveLimits): BridgeError {
  if (error instanceof BridgeError) return error;
  // Our disk, not the client's body: checked first so the system's text never reaches the client.
  if (isDiskFull(error)) return insufficientStorage(error);
  const { code, message } = error as FormidableFailure;
  switch (code) {
    case formidableErrors.maxFilesExceeded:
      return rejectPart(413, field, `too many file parts (the limit is ${limits.maxParts})`, error);
    case formidableErrors.maxFieldsExceeded:
      return rejectPart(413, field, `too many text fields (the limit is ${limits.maxParts})`, error);
    case formidableErrors.maxFieldsSizeExceeded:
      return rejectPart(413, field, `text fields are larger than ${limits.maxFieldsBytes} bytes in total`, error);
    case formidableErrors.biggerThanMaxFileSize:
      return fileTooLarge(field, limits, error);
    case formidableErrors.biggerThanTotalMaxFileSize:
      return rejectPart(413, field, `the files of this request are larger than ${limits.maxTotalBytes} bytes in total`, error);
    case formidableErrors.noEmptyFiles:
    case formidableErrors.smallerThanMinFileSize:
      return rejectPart(400, field, 'the file is empty', error);
    case formidableErrors.aborted:
      return badRequest('the request was aborted before the upload was complete', { cause: error });
    default:
      return badRequest(`malformed multipart body: ${message ?? 'unreadable'}`, { cause: error });
  }
}

function fileTooLarge(field: string | null, limits: ReceiveLimits, cause?: unknown): BridgeError {
  return rejectPart(413, field, `the file is larger than ${limits.maxFileBytes} bytes`, cause);
}

/** Room for each part's boundary and headers, on top of the file and field limits. */
const PART_OVERHEAD_BYTES = 16 * 1024;

/** The largest body a request within every other limit can have. */
function bodyLimit(limits: ReceiveLimits): number {
  return limits.maxTotalBytes + limits.maxFieldsBytes + (2 * limits.maxParts + 1) * PART_OVERHEAD_BYTES;
}

function bodyTooLarge(maxBodyBytes: number): BridgeError {
  return payloadTooLarge(`the request body is larger than ${maxBodyBytes} bytes (files, fields and multipart headers together)`);
}

/**
 * Streams the file parts of a multipart/form-data request into `incomingDir` under random names,
 * with every limit set explicitly. Text fields are read (bounded) and ignored. The client's file
 * name is never used, not even for the temporary file. On any failure every file this request
 * wrote is deleted before the error is thrown; on success the caller owns the files.
 */
export async function receiveFiles(request: IncomingMessage, incomingDir: string, limits: ReceiveLimits): Promise<ReceivedUpload> {
  const writers: IncomingFile[] = [];
  const checks: StreamCheck[] = [];
  const writerOf = new WeakMap<object, { writer: IncomingFile; check: StreamCheck }>();
  const received: ReceivedFile[] = [];
  let cancelled = false;
  let currentField: string | null = null;

  const discard = async (gone?: ReadonlySet<string>): Promise<void> => {
    cancelled = true;
    for (const writer of writers) writer.destroy();
    for (const check of checks) check.dispose();
    await Promise.all(writers.map((writer) => writer.whenClosed()));
    await Promise.all(writers.filter((writer) => !gone?.has(writer.path)).map((writer) => removeFile(writer.path)));
  };

  const form = formidable({
    uploadDir: incomingDir,
    // Only formidable's own bookkeeping sees this name (fileWriteStreamHandler picks the path and
    // formidable opens nothing itself); never the client's file name. Fixed: no random bytes spent on it.
    filename: () => 'unused',
    enabledPlugins: [multipart],
    maxFiles: limits.maxParts,
    maxFields: limits.maxParts,
    maxFieldsSize: limits.maxFieldsBytes,
    maxFileSize: limits.maxFileBytes,
    maxTotalFileSize: limits.maxTotalBytes,
    allowEmptyFiles: false,
    minFileSize: 1,
    // Parts are read one after another, so the part being written is the last one begun.
    fileWriteStreamHandler: (file) => {
      const path = join(incomingDir, incomingName());
      const check = new StreamCheck(limits);
      const writer = new IncomingFile(currentField, path, limits.maxFileBytes, (field) => fileTooLarge(field, limits), () => cancelled, check);
      writers.push(writer);
      checks.push(check);
      if (file) writerOf.set(file, { writer, check });
      return writer;
    },
  });

  form.onPart = (part: Part) => {
    currentField = part.name;
    // formidable treats a part without Content-Type as a text field; one with a file name is a file.
    if (part.originalFilename !== null && !part.mimetype) part.mimetype = 'application/octet-stream';
    return form._handlePart(part);
  };
  form.on('file', (_field: string, file: FormidableFile) => {
    const entry = writerOf.get(file);
    if (entry) received.push({ field: entry.writer.field, path: entry.writer.path, size: entry.writer.bytesWritten, check: entry.check });
  });

  const maxBodyBytes = bodyLimit(limits);
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBodyBytes) throw bodyTooLarge(maxBodyBytes);

  // Stops the parse from outside formidable: a client gone mid-body must not leave it (and its
  // open files) hanging, and a body past every limit (e.g. endless part headers, which formidable
  // buffers without a limit of its own) is cut off.
  let stop: (error: BridgeError) => void = () => undefined;
  const stopped = new Promise<never>((_, reject) => {
    stop = reject;
  });
  request.once('close', () => {
    if (!request.complete) stop(badRequest('the request was aborted before the upload was complete'));
  });
  form.on('progress', (bytesReceived: number) => {
    if (bytesReceived > maxBodyBytes) stop(bodyTooLarge(maxBodyBytes));
  });

  try {
    await Promise.race([form.parse(request), stopped]);
  } catch (error) {
    await discard();
    throw translate(error, currentField, limits);
  }
  // formidable drops a write error that arrives after the body has ended (its _error ignores errors
  // once it has "ended") and reports the short file as received: a full disk would then look like a
  // truncated image, the client's fault. Ask every writer instead.
  const failed = writers.find((writer) => writer.errored);
  if (failed) {
    await discard();
    throw translate(failed.errored, failed.field, limits);
  }
  return { files: received, discard };
}
