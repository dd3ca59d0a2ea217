import { join } from 'node:path';
import { definePlugin } from '../../core/plugin.js';
import { NedbStorage } from './nedb-storage.js';
import { optionsSchema, type StorageNedbOptions } from './options.js';
import { applyRetention } from './retention.js';
import { every } from './schedule.js';

const PLUGIN = 'storage-nedb';

export default definePlugin<StorageNedbOptions>({
  name: PLUGIN,
  description: 'Stores generations, uploads and small settings in nedb datafiles under <dataDir>/db/.',
  provides: ['storage'],
  options: optionsSchema,
  async register(ctx) {
    const { inMemory, compactIntervalMs, retention } = ctx.options;
    const storage = await NedbStorage.open({ dataDir: ctx.config.dataDir, inMemory, log: ctx.log });
    ctx.provide('storage', storage);
    ctx.log.info({ inMemory, generations: storage.generations.size }, 'storage open');

    const resultsDir = join(ctx.config.dataDir, 'results');
    const retain = async (): Promise<void> => {
      try {
        const deleted = await applyRetention(storage.generations, retention, resultsDir, new Date(), storage.uploads);
        if (deleted.length > 0) ctx.log.info({ deleted: deleted.length }, 'retention deleted old generations');
      } catch (error) {
        ctx.log.error({ err: error }, 'retention failed');
      }
    };
    const compact = async (): Promise<void> => {
      try {
        await storage.compact();
      } catch (error) {
        ctx.log.error({ err: error }, 'compaction failed');
      }
    };

    const timers = [every(compactIntervalMs, compact)];
    if (retention.maxAgeDays !== null || retention.maxRows !== null) {
      timers.push(every(retention.intervalMs, retain));
      // First pass once everything is registered, so a long-stopped bridge trims at start.
      ctx.hooks.ready.tapPromise({ name: PLUGIN }, retain);
    }

    ctx.onClose(async () => {
      for (const timer of timers) await timer.stop();
      await storage.close();
    });
  },
});
