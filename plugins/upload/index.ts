import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { definePlugin } from '../../core/plugin.js';
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
  optionalDependencies: ['access'],
  provides: ['uploads'],
  options: optionsSchema,
  async register(ctx) {
    // libvips caches decoded operations by file name; every upload is decoded once, so keep no memory for them.
    sharp.cache(false);
    const dir = join(ctx.config.dataDir, 'uploads');
    const incomingDir = join(dir, '.incoming');
    // Whatever is in the incoming folder belonged to requests of a previous run that never finished.
    await rm(incomingDir, { recursive: true, force: true });
    await mkdir(incomingDir, { recursive: true });

    const library = new UploadLibrary(dir, ctx.use('storage').uploads, ctx.log);
    // The library plus ingest, which needs the incoming folder and the limits the library does not hold.
    ctx.provide('uploads', Object.assign(library, {
      ingest: (bytes: Buffer, field: string, clientId: string, principal: Principal) => ingestBytes({ library, incomingDir, options: ctx.options }, bytes, field, clientId, principal),
    }));
    ctx.route(uploadRoute({ library, incomingDir, options: ctx.options, access: () => ctx.tryUse('access'), idempotency: ctx.use('storage').idempotency }));

    const expiry = startExpiry(library, ctx.options.expireAfterMs, ctx.options.sweepIntervalMs, ctx.log);
    ctx.onClose(() => expiry.stop());
  },
});
