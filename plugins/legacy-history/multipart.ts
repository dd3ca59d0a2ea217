import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';

export interface BundledFile {
  /** The multipart field name (the original bridge used result_0, result_1, …). */
  field: string;
  filename: string;
  contentType: string;
  path: string;
}

/** A boundary that cannot occur by chance in binary results (24 random bytes). */
export const newBoundary = (): string => `comfy-bridge-${randomBytes(24).toString('hex')}`;

/**
 * RFC 7578: the file name in a quoted `filename=` (UTF-8 as is, quotes and backslashes escaped), no
 * `filename*` (strict readers such as undici's refuse it).
 */
function disposition(field: string, filename: string): string {
  const quoted = filename.replace(/["\\]/g, '\\$&').replace(/[\r\n]/g, ' ');
  return `form-data; name="${field}"; filename="${quoted}"`;
}

/**
 * A multipart/form-data body streamed from files, as the original bridge's aiohttp FormData wrote it.
 * `files` is resolved lazily so the caller can answer synchronously; a file gone since (retention)
 * is left out, as the original left out files that failed its checks.
 */
export function multipartStream(boundary: string, files: () => Promise<BundledFile[]>, onSkip: (file: BundledFile) => void): Readable {
  async function* parts(): AsyncGenerator<Buffer> {
    for (const file of await files()) {
      const stats = await stat(file.path).catch(() => undefined);
      if (!stats?.isFile()) {
        onSkip(file);
        continue;
      }
      yield Buffer.from(
        `--${boundary}\r\nContent-Type: ${file.contentType}\r\nContent-Disposition: ${disposition(file.field, file.filename)}\r\nContent-Length: ${stats.size}\r\n\r\n`,
      );
      for await (const chunk of createReadStream(file.path)) yield chunk as Buffer;
      yield Buffer.from('\r\n');
    }
    yield Buffer.from(`--${boundary}--\r\n`);
  }
  return Readable.from(parts(), { objectMode: false });
}
