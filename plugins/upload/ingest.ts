import { writeFile } from 'node:fs/promises';
import { removeFile } from './incoming-dir.js';
import { join } from 'node:path';
import type { Principal } from '../../contracts/auth.js';
import type { UploadRecord } from '../../contracts/storage.js';
import type { UploadLibrary } from './library.js';
import { incomingName } from './names.js';
import type { UploadOptions } from './options.js';
import { rejectPart } from './rejection.js';
import { inspectAll } from './route.js';
import { StreamCheck } from './stream-check.js';

/**
 * Bytes that did not come through POST /upload (an image input given as a data: URL or fetched from
 * a URL) go through the same checks as an uploaded file, from the incoming folder, and are kept the same way.
 */
export async function ingestBytes(
  deps: { library: UploadLibrary; incomingDir: string; options: UploadOptions },
  bytes: Buffer,
  field: string,
  clientId: string,
  principal: Principal,
): Promise<UploadRecord> {
  if (bytes.length === 0) throw rejectPart(400, field, 'the file is empty');
  if (bytes.length > deps.options.maxFileBytes) throw rejectPart(413, field, `the file is larger than ${deps.options.maxFileBytes} bytes`);
  const path = join(deps.incomingDir, incomingName());
  const written = [path];
  try {
    // The bytes are in memory: the same proof a streamed upload gets, so a plain PNG is kept as it came
    // (less its text chunks, which are not written).
    const check = new StreamCheck(deps.options);
    const kept = Buffer.concat([...check.push(bytes), ...check.end()]);
    await writeFile(path, kept);
    const accepted = await inspectAll([{ field, path, size: kept.length, check }], deps.options, written);
    const names = await deps.library.keep(accepted, clientId, principal);
    const record = await deps.library.find(names[field]!, clientId, principal);
    if (!record) throw new Error(`upload ${names[field]} vanished as it was stored`);
    return record;
  } finally {
    await Promise.all(written.map((file) => removeFile(file)));
  }
}
