import { definePlugin } from '../../core/plugin.js';
import { optionsSchema, type StoragePostgresOptions } from './options.js';
import { PostgresStorage, redactUrl } from './pg-storage.js';
import { applyRetention } from '../../contracts/retention.js';
import { every } from '../../lib/every.js';

const PLUGIN = 'storage-postgres';

export default definePlugin<StoragePostgresOptions>({
  name: PLUGIN,
  description: 'Stores generations, uploads and small settings in PostgreSQL; several bridge instances may share one database.',
  provides: ['storage'],
  options: optionsSchema,
  // `storage: postgres` in a config file, or the database URL in the environment, switches from storage-nedb.
  selectedBy: { storage: 'postgres' },
  replaces: ['storage-nedb'],
  env: {
    COMFY_BRIDGE_DATABASE_URL: { key: 'url', value: 'URL', shared: true, description: 'PostgreSQL connection string: storage and bus on PostgreSQL (a fleet of instances).' },
  },
  async register(ctx) {
    const { url, retention } = ctx.options;
    const storage = await PostgresStorage.open({ ...ctx.options, log: ctx.log });
    ctx.provide('storage', storage);
    ctx.log.info({ database: redactUrl(url), schema: storage.migrations, instance: storage.leases.instance }, 'storage open');

    // The results service owns the result files; it registers after storage, so it is looked up at each pass.
    // Without it loaded nothing here knows the files' layout: the rows are pruned and files are left alone.
    const removeResults = async (id: string): Promise<void> => ctx.tryUse('results')?.remove(id);
    const retain = async (): Promise<void> => {
      try {
        const deleted = await applyRetention(storage.generations, retention, removeResults, new Date(ctx.clock.now()), storage.uploads);
        if (deleted.length > 0) ctx.log.info({ deleted: deleted.length }, 'retention deleted old generations');
      } catch (error) {
        ctx.log.error({ err: error }, 'retention failed');
      }
    };
    const timers: { stop(): Promise<void> }[] = [];
    if (retention.maxAgeDays !== null || retention.maxRows !== null) {
      timers.push(every(retention.intervalMs, retain, ctx.clock));
      // First pass once everything is registered, so a long-stopped bridge trims at start.
      ctx.hooks.ready.tapPromise({ name: PLUGIN }, retain);
    }

    ctx.onClose(async () => {
      for (const timer of timers) await timer.stop();
      await storage.close();
    });
  },
});
