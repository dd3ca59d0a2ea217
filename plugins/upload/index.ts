import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DirectoryBlobStore } from '../../contracts/directory-blob-store.js';
import { syncDirectory, syncFileData } from '../../contracts/directory-sync.js';
import { onLocalDisk } from '../../contracts/local-disk.js';
import { definePlugin } from '../../core/plugin.js';
import { clearIncoming } from './incoming-dir.js';
import { startExpiry } from './expiry.js';
import type { Principal } from '../../contracts/auth.js';
import { ingestBytes } from './ingest.js';
import { UploadLibrary } from './library.js';
import { optionsSchema, type UploadOptions } from './options.js';
import { uploadRoute } from './route.js';

const PLUGIN = 'upload';

/** POST /upload: images streamed to disk, checked from their bytes, stored under fresh names, expired when unused. */
export default definePlugin<UploadOptions>({
  name: PLUGIN,
  description: 'POST /upload: stores checked images under fresh names for later generations (SPEC §2.3).',
  dependencies: ['storage'],
  // The bytes go through a blob store: a plugin's when one is enabled, else the data dir (shared by a fleet).
  optionalDependencies: ['access', 'blobs'],
  provides: ['uploads'],
  options: optionsSchema,
  async register(ctx) {
    // Received files are checked here (a local file each) before they go to the blob store.
    const incomingDir = join(ctx.config.dataDir, 'uploads', '.incoming');
    const storage = ctx.use('storage');
    await clearIncoming(incomingDir, storage.shared === true);
    const made = await mkdir(incomingDir, { recursive: true });
    // Files durable before the records that name them, unless the records are not synced either (storage-nedb syncWrites: false).
    const durable = storage.syncsWrites !== false;
    const local = onLocalDisk(incomingDir);
    // A new uploads/ folder's entry in the data dir (the incoming folder's own needs none: it is emptied at start).
    if (durable && made !== undefined && made !== incomingDir) await syncDirectory(dirname(made), local);

    const pluginBlobs = ctx.tryUse('blobs');
    const blobs = pluginBlobs ?? new DirectoryBlobStore(ctx.config.dataDir, { sync: durable });
    // The built-in store renames the incoming file into place: its data is synced beforehand, beside the record's write.
    const syncFile = durable && !pluginBlobs ? (path: string) => syncFileData(path, local) : undefined;
    const library = new UploadLibrary(blobs, storage.uploads, ctx.log, () => ctx.clock.now(), syncFile);
    // The library plus ingest, which needs the incoming folder and the limits the library does not hold.
    ctx.provide('uploads', Object.assign(library, {
      ingest: (bytes: Buffer, field: string, clientId: string, principal: Principal) => ingestBytes({ library, incomingDir, options: ctx.options }, bytes, field, clientId, principal),
    }));
    ctx.route(uploadRoute({ library, incomingDir, options: ctx.options, access: () => ctx.tryUse('access'), idempotency: storage.idempotency }));

    const expiry = startExpiry(library, ctx.options.expireAfterMs, ctx.options.sweepIntervalMs, ctx.log, ctx.clock);
    ctx.onClose(() => expiry.stop());
  },
});
