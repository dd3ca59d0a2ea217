import { definePlugin } from '../../core/plugin.js';
import { optionsSchema, type BusPostgresOptions } from './options.js';
import { PostgresBus } from './pg-bus.js';

const PLUGIN = 'bus-postgres';

/** The message bus across bridge instances (contracts/bus.ts) on PostgreSQL: the fleet's replacement for plugins/bus. */
export default definePlugin<BusPostgresOptions>({
  name: PLUGIN,
  description: 'The message bus across bridge instances on PostgreSQL: seq per topic in the database, LISTEN/NOTIFY delivery, a replay table.',
  provides: ['bus'],
  options: optionsSchema,
  // Chosen with storage-postgres: `storage: postgres` or COMFY_BRIDGE_DATABASE_URL.
  selectedBy: { storage: 'postgres' },
  replaces: ['bus'],
  env: {
    COMFY_BRIDGE_DATABASE_URL: { key: 'url', shared: true, description: 'PostgreSQL connection string: storage and bus on PostgreSQL (a fleet of instances).' },
  },
  async register(ctx) {
    const { pruneIntervalMs, ...options } = ctx.options;
    const bus = await PostgresBus.open({
      ...options,
      applicationName: 'comfy-bridge bus',
      onListenerError: (error, topic) => ctx.log.error({ err: error, topic }, 'a bus subscriber failed'),
      // The LISTEN connection reconnects by itself (backing off to every 5 s) and catches up from the table.
      onConnectionError: (error) => ctx.log.warn({ err: error }, 'bus connection to PostgreSQL failed; reconnecting'),
      // Frames the generations published without waiting (publishLater): lost, never numbered, so no client sees a gap.
      onPublishError: (error, messages) => ctx.log.error({ err: error, messages, lostSoFar: bus.publishFailures }, 'could not publish frames on the bus; they are lost'),
    });
    ctx.provide('bus', bus);
    let pruning: Promise<unknown> | null = null;
    const prune = setInterval(() => {
      pruning ??= bus
        .prune()
        .catch((error: unknown) => ctx.log.warn({ err: error }, 'bus prune failed'))
        .finally(() => (pruning = null));
    }, pruneIntervalMs).unref();
    ctx.onClose(async () => {
      clearInterval(prune);
      await pruning;
      await bus.close();
    });
  },
});
