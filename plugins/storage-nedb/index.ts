import { STAGE } from '../../core/hooks.js';
import { definePlugin } from '../../core/plugin.js';
import { NedbStorage } from './nedb-storage.js';
import { optionsSchema, type StorageNedbOptions } from './options.js';
import { applyRetention } from '../../contracts/retention.js';
import { every } from '../../lib/every.js';

const PLUGIN = 'storage-nedb';

export default definePlugin<StorageNedbOptions>({
  name: PLUGIN,
  description: 'Stores generations, uploads and small settings in nedb datafiles under <dataDir>/db/.',
  provides: ['storage'],
  selectedBy: { storage: 'nedb' },
  options: optionsSchema,
  async register(ctx) {
    const { inMemory, compactIntervalMs, retention, syncWrites } = ctx.options;
    // register() only takes the lock and loads the small kv file: loading the rows takes as long as
    // the store is large, so it runs in the background and the `ready` step below waits for it (the
    // register deadline is for plugins wiring themselves up, not for reading a million rows).
    const storage = await NedbStorage.begin({ dataDir: ctx.config.dataDir, inMemory, log: ctx.log, sync: syncWrites });
    ctx.provide('storage', storage);
    ctx.onClose(() => storage.close());

    const started = Date.now();
    ctx.hooks.ready.tapPromise({ name: PLUGIN, stage: STAGE.EARLY }, async () => {
      await storage.loaded;
      ctx.log.info({ inMemory, generations: storage.generations.size, ms: Date.now() - started }, 'storage open');
    });

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
    const compact = async (): Promise<void> => {
      try {
        const compacted = await storage.compact({ onlyIfGrown: true });
        if (compacted.length > 0) ctx.log.debug({ compacted }, 'datafiles compacted');
      } catch (error) {
        ctx.log.error({ err: error }, 'compaction failed');
      }
    };

    const compaction = every(compactIntervalMs, compact);
    let retaining: ReturnType<typeof every> | undefined;
    if (retention.maxAgeDays !== null || retention.maxRows !== null) {
      retaining = every(retention.intervalMs, retain, ctx.clock);
      // First pass once everything is registered, so a long-stopped bridge trims at start.
      ctx.hooks.ready.tapPromise({ name: PLUGIN }, retain);
    }
    // Registered after storage.close, so it runs first (closers run in reverse). A running
    // compaction is not waited for: storage.close abandons it, so a large store stops at once.
    ctx.onClose(async () => {
      void compaction.stop();
      await retaining?.stop();
    });
  },
});
