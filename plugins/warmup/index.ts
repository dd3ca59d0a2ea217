import { definePlugin } from '../../core/plugin.js';
import { optionsSchema, type WarmupOptions } from './options.js';
import { Warmer } from './warmer.js';

const PLUGIN = 'warmup';

/**
 * Warm-up: each workflow marked `warmup` in its manifest (or named in the options) runs once on
 * every backend that can run it when that backend connects or comes back, so the first client does
 * not pay the model load. Straight through the transport: nothing is recorded or published.
 */
export default definePlugin<WarmupOptions>({
  name: PLUGIN,
  description: 'Runs marked workflows once on each capable backend when it connects or comes back (model load before the first client).',
  dependencies: ['transport', 'workflows'],
  optionalDependencies: ['results'],
  provides: ['warmup'],
  options: optionsSchema,
  register(ctx) {
    const transport = ctx.use('transport');
    const workflows = ctx.use('workflows');
    const warmer = new Warmer({
      transport,
      workflows,
      log: ctx.log,
      options: ctx.options,
      contentTypeFor: (name) => ctx.tryUse('results')?.contentTypeFor(name) ?? 'application/octet-stream',
    });
    for (const alias of ctx.options.workflows) {
      if (!workflows.get(alias)) ctx.log.warn({ workflow: alias }, 'warmup.workflows names a workflow that is not loaded; it is warmed up if it appears');
    }
    if (!transport.onBackendUp || !transport.fit) {
      // Without the signal nothing would ever be warmed, and /ready must not wait for it.
      ctx.log.warn('the transport cannot say when a backend connects or what it can run; warm-up is off');
      return;
    }
    const stop = transport.onBackendUp((backend) => warmer.backendUp(backend));
    ctx.provide('warmup', warmer);
    ctx.onClose(() => {
      stop();
      warmer.close();
    });
  },
});
