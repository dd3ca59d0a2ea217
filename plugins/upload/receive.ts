import type { IncomingMessage } from 'node:http';
import { removeFile } from './incoming-dir.js';
import { join } from 'node:path';
import { badRequest, BridgeError, payloadTooLarge } from '../../core/errors.js';
import { insufficientStorage, isDiskFull } from './disk-full.js';
import { IncomingFile } from './incoming-file.js';
import { boundaryOf, MAX_HEADER_BYTES, MultipartError, MultipartParser, type PartHandler } from './multipart.js';
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

/** The client-facing error for whatever stopped the receipt, naming the part being read when it is the part's fault. */
function translate(error: unknown): unknown {
  if (error instanceof BridgeError) return error;
  if (error instanceof MultipartError) {
    return error.status === 413 ? payloadTooLarge(error.message, { cause: error }) : badRequest(`malformed multipart body: ${error.message}`, { cause: error });
  }
  // Our disk, not the client's body: the system's text never reaches the client.
  if (isDiskFull(error)) return insufficientStorage(error);
  return error;
}

function fileTooLarge(field: string | null, limits: ReceiveLimits): BridgeError {
  return rejectPart(413, field, `the file is larger than ${limits.maxFileBytes} bytes`);
}

/** Room for each part's boundary and headers, on top of the file and field limits. */
const PART_OVERHEAD_BYTES = MAX_HEADER_BYTES;

/** The largest body a request within every other limit can have. */
function bodyLimit(limits: ReceiveLimits): number {
  return limits.maxTotalBytes + limits.maxFieldsBytes + (2 * limits.maxParts + 1) * PART_OVERHEAD_BYTES;
}

function bodyTooLarge(maxBodyBytes: number): BridgeError {
  return payloadTooLarge(`the request body is larger than ${maxBodyBytes} bytes (files, fields and multipart headers together)`);
}

/**
 * Streams the file parts of a multipart/form-data request into `incomingDir` under random names,
 * with every limit checked as the bytes arrive (multipart.ts parses; each file part goes straight to
 * its IncomingFile, and the socket is paused only while a file has more than its buffer waiting).
 * Text fields are read (bounded) and ignored. The client's file name is never used, not even for the
 * temporary file. On any failure every file this request wrote is deleted before the error is thrown;
 * on success the caller owns the files.
 */
export async function receiveFiles(request: IncomingMessage, incomingDir: string, limits: ReceiveLimits): Promise<ReceivedUpload> {
  const boundary = boundaryOf(request.headers['content-type']);
  if (boundary === undefined) throw badRequest('malformed multipart body: the Content-Type names no multipart boundary');
  const maxBodyBytes = bodyLimit(limits);
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBodyBytes) throw bodyTooLarge(maxBodyBytes);

  const writers: IncomingFile[] = [];
  const checks: StreamCheck[] = [];
  const written: Promise<void>[] = [];
  let cancelled = false;
  const discard = async (gone?: ReadonlySet<string>): Promise<void> => {
    cancelled = true;
    for (const writer of writers) writer.destroy();
    for (const check of checks) check.dispose();
    await Promise.all(writers.map((writer) => writer.whenClosed()));
    await Promise.all(writers.filter((writer) => !gone?.has(writer.path)).map((writer) => removeFile(writer.path)));
  };

  let reject: (error: unknown) => void = () => undefined;
  const stopped = new Promise<never>((_, rejectStopped) => {
    reject = rejectStopped;
  });
  /** The first failure stops the receipt: later bytes are read and dropped, later errors ignored. */
  let failed = false;
  const stop = (error: unknown) => {
    if (failed) return;
    failed = true;
    reject(error);
  };
  const resume = () => request.resume();

  let fields = 0;
  let fieldBytes = 0;
  let fileBytes = 0;
  /** The part being read: its field, its file (none for a text field) and the bytes received. */
  let part: { field: string | null; writer: IncomingFile | undefined; bytes: number } = { field: null, writer: undefined, bytes: 0 };
  const handler: PartHandler = {
    begin({ name, file }) {
      if (!file) {
        if (++fields > limits.maxParts) throw rejectPart(413, name, `too many text fields (the limit is ${limits.maxParts})`);
        part = { field: name, writer: undefined, bytes: 0 };
        return;
      }
      if (writers.length >= limits.maxParts) throw rejectPart(413, name, `too many file parts (the limit is ${limits.maxParts})`);
      const check = new StreamCheck(limits);
      const writer = new IncomingFile(name, join(incomingDir, incomingName()), limits.maxFileBytes, (field) => fileTooLarge(field, limits), () => cancelled, check);
      writers.push(writer);
      checks.push(check);
      // A write error (a full disk) after the body has ended counts too: every file is waited for.
      written.push(new Promise<void>((resolve, reject) => writer.once('finish', resolve).once('error', reject)));
      written.at(-1)!.catch(stop);
      writer.on('drain', resume);
      part = { field: name, writer, bytes: 0 };
    },
    data(bytes) {
      const { writer } = part;
      if (!writer) {
        fieldBytes += bytes.length;
        if (fieldBytes > limits.maxFieldsBytes) throw rejectPart(413, part.field, `text fields are larger than ${limits.maxFieldsBytes} bytes in total`);
        return;
      }
      fileBytes += bytes.length;
      if (fileBytes > limits.maxTotalBytes) throw rejectPart(413, part.field, `the files of this request are larger than ${limits.maxTotalBytes} bytes in total`);
      part.bytes += bytes.length;
      if (part.bytes > limits.maxFileBytes) throw fileTooLarge(part.field, limits);
      if (!writer.write(bytes)) request.pause();
    },
    end() {
      if (!part.writer) return;
      if (part.bytes === 0) throw rejectPart(400, part.field, 'the file is empty');
      part.writer.end();
      // An ended file never emits 'drain': the body goes on (the next part has its own file).
      request.resume();
    },
  };
  const parser = new MultipartParser(boundary, handler);

  let bodyBytes = 0;
  const onData = (chunk: Buffer) => {
    if (failed) return;
    bodyBytes += chunk.length;
    try {
      // A body past every limit (e.g. endless part headers) is cut off as it streams.
      if (bodyBytes > maxBodyBytes) throw bodyTooLarge(maxBodyBytes);
      parser.push(chunk);
    } catch (error) {
      stop(error);
    }
  };
  const ended = new Promise<void>((resolve, reject) => {
    request.once('end', () => {
      try {
        parser.end();
        resolve();
      } catch (error) {
        reject(error);
      }
    });
  });
  // A client gone mid-body must not leave the receipt (and its open files) hanging.
  const onClose = () => {
    if (!request.complete) stop(badRequest('the request was aborted before the upload was complete'));
  };
  const onError = () => stop(badRequest('the request was aborted before the upload was complete'));
  request.on('data', onData);
  request.once('close', onClose);
  request.once('error', onError);

  try {
    await Promise.race([ended, stopped]);
    await Promise.race([Promise.all(written), stopped]);
  } catch (error) {
    stop(error);
    // Whatever the client still sends is read and dropped (the answer closes the connection).
    request.resume();
    await discard();
    throw translate(error);
  } finally {
    request.off('close', onClose);
    for (const writer of writers) writer.off('drain', resume);
  }
  return {
    files: writers.map((writer, index) => ({ field: writer.field, path: writer.path, size: writer.bytesWritten, check: checks[index] })),
    discard,
  };
}
