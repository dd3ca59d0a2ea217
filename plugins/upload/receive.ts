import type { IncomingMessage } from 'node:http';
import { removeFile } from './incoming-dir.js';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { badRequest, BridgeError, payloadTooLarge } from '../../core/errors.js';
import { insufficientStorage, isDiskFull } from './disk-full.js';
import { IncomingFile } from './incoming-file.js';
import { Busboy, type BusboyInstance } from '@fastify/busboy';
import { HeaderMeter, HeadersTooLarge } from './header-meter.js';
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

/** The client-facing error for whatever stopped the receipt. */
function translate(error: unknown): unknown {
  if (error instanceof BridgeError) return error;
  if (error instanceof HeadersTooLarge) return payloadTooLarge(error.message, { cause: error });
  // Our disk, not the client's body: the system's text never reaches the client.
  if (isDiskFull(error)) return insufficientStorage(error);
  return error;
}

function malformed(error: Error): BridgeError {
  return badRequest(`malformed multipart body: ${error.message}`, { cause: error });
}

function fileTooLarge(field: string | null, limits: ReceiveLimits): BridgeError {
  return rejectPart(413, field, `the file is larger than ${limits.maxFileBytes} bytes`);
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

/** What a header value may not hold (a tab may). */
const CONTROL_CHARACTER = /[\0-\x08\x0a-\x1f\x7f]/;

/**
 * Control characters are not allowed in a header (RFC 9110; node refuses them in request headers). The parser passes
 * them on in a part's names; the names are never used for files, but a part header holding one is malformed.
 */
function malformedNames(...names: (string | undefined)[]): BridgeError | undefined {
  return names.some((name) => name !== undefined && CONTROL_CHARACTER.test(name)) ? malformed(new Error('a part header holds a control character')) : undefined;
}

/** Transfer encodings that leave the bytes as they are (RFC 7578 deprecates the header; busboy decodes none). */
const IDENTITY_ENCODINGS: ReadonlySet<string> = new Set(['binary', '7bit', '8bit']);

/**
 * Streams the file parts of a multipart/form-data request into `incomingDir` under random names,
 * with every limit checked as the bytes arrive: busboy parses, each file part's bytes go straight to its
 * IncomingFile (the socket waits only while a file has more than its buffer queued), and the
 * header meter (header-meter.ts) answers part headers over 8 KiB as the 413 they are (busboy: a 400 at ~16 KiB).
 * Text fields are read (bounded) and ignored. The client's file name is never used, not even for the
 * temporary file. On any failure every file this request wrote is deleted before the error is thrown;
 * on success the caller owns the files.
 */
export async function receiveFiles(request: IncomingMessage, incomingDir: string, limits: ReceiveLimits): Promise<ReceivedUpload> {
  const maxBodyBytes = bodyLimit(limits);
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBodyBytes) throw bodyTooLarge(maxBodyBytes);
  let parser: BusboyInstance;
  try {
    parser = Busboy({
      headers: request.headers as Parameters<typeof Busboy>[0]['headers'],
      // One field over maxFieldsBytes is cut there (valueTruncated); the total is counted below.
      limits: { fieldSize: limits.maxFieldsBytes + 1 },
    });
  } catch (error) {
    throw malformed(error as Error);
  }
  const meter = new HeaderMeter(/boundary=(?:"([^"]+)"|([^;]+))/i.exec(request.headers['content-type'] ?? '')?.slice(1).find(Boolean) ?? '');

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

  let fields = 0;
  let fieldBytes = 0;
  let fileBytes = 0;
  parser.on('field', (name: string | undefined, value: string, _nameTruncated: boolean, valueTruncated: boolean) => {
    const field = name ?? null;
    const badNames = malformedNames(name);
    if (badNames) return stop(badNames);
    if (++fields > limits.maxParts) return stop(rejectPart(413, field, `too many text fields (the limit is ${limits.maxParts})`));
    fieldBytes += Buffer.byteLength(value);
    if (valueTruncated || fieldBytes > limits.maxFieldsBytes) stop(rejectPart(413, field, `text fields are larger than ${limits.maxFieldsBytes} bytes in total`));
  });
  parser.on('file', (name: string | undefined, stream: Readable, fileName: string | undefined, encoding: string) => {
    const field = name ?? null;
    // busboy's own errors on a part (a body that ends inside it): malformed, like the parser's.
    stream.on('error', (error: Error) => stop(malformed(error)));
    if (failed) return void stream.resume();
    const badNames = malformedNames(name, fileName);
    if (badNames) {
      stream.resume();
      return stop(badNames);
    }
    if (writers.length >= limits.maxParts) return stop(rejectPart(413, field, `too many file parts (the limit is ${limits.maxParts})`));
    if (!IDENTITY_ENCODINGS.has(encoding.toLowerCase())) {
      return stop(rejectPart(400, field, `Content-Transfer-Encoding ${JSON.stringify(encoding)} is not supported (send the bytes as they are)`));
    }
    const check = new StreamCheck(limits);
    const writer = new IncomingFile(field, join(incomingDir, incomingName()), limits.maxFileBytes, (part) => fileTooLarge(part, limits), () => cancelled, check);
    writers.push(writer);
    checks.push(check);
    // A write error (a full disk) after the body has ended counts too: every file is waited for.
    const done = new Promise<void>((resolve, rejectWrite) => writer.once('finish', resolve).once('error', rejectWrite));
    done.catch(stop);
    written.push(done);
    let bytes = 0;
    writer.on('drain', () => stream.resume());
    stream.on('data', (chunk: Buffer) => {
      if (failed) return;
      fileBytes += chunk.length;
      if (fileBytes > limits.maxTotalBytes) return stop(rejectPart(413, field, `the files of this request are larger than ${limits.maxTotalBytes} bytes in total`));
      bytes += chunk.length;
      if (bytes > limits.maxFileBytes) return stop(fileTooLarge(field, limits));
      if (!writer.write(chunk)) stream.pause();
    });
    stream.once('end', () => {
      if (failed) return;
      if (bytes === 0) return stop(rejectPart(400, field, 'the file is empty'));
      writer.end();
    });
  });
  parser.on('error', (error: Error) => stop(malformed(error)));
  const parsed = new Promise<void>((resolve) => parser.once('finish', resolve));
  parser.on('drain', () => request.resume());

  let bodyBytes = 0;
  const onData = (chunk: Buffer) => {
    if (failed) return;
    bodyBytes += chunk.length;
    try {
      // A body past every limit (e.g. endless part headers) is cut off as it streams.
      if (bodyBytes > maxBodyBytes) throw bodyTooLarge(maxBodyBytes);
      if (meter.push(chunk) && !parser.write(chunk)) request.pause();
    } catch (error) {
      stop(error);
    }
  };
  // A client gone mid-body must not leave the receipt (and its open files) hanging.
  const onClose = () => {
    if (!request.complete) stop(badRequest('the request was aborted before the upload was complete'));
  };
  const onError = () => stop(badRequest('the request was aborted before the upload was complete'));
  request.on('data', onData);
  request.once('end', () => failed || parser.end());
  request.once('close', onClose);
  request.once('error', onError);

  try {
    await Promise.race([parsed, stopped]);
    await Promise.race([Promise.all(written), stopped]);
  } catch (error) {
    stop(error);
    // Whatever the client still sends is read and dropped (the answer closes the connection).
    request.resume();
    parser.destroy();
    await discard();
    throw translate(error);
  } finally {
    request.off('close', onClose);
  }
  return {
    files: writers.map((writer, index) => ({ field: writer.field, path: writer.path, size: writer.bytesWritten, check: checks[index] })),
    discard,
  };
}
