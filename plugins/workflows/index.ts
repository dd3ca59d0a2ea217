import { resolve } from 'node:path';
import { definePlugin } from '../../core/plugin.js';
import { optionsSchema, type WorkflowsOptions } from './options.js';
import { FileWorkflowRegistry } from './registry.js';
import { mountWorkflowRoutes } from './routes.js';
import { watchFolder } from './watch-folder.js';

const PLUGIN = 'workflows';

/**
 * Loads the operator's ComfyUI workflows (API-format graphs, with optional manifests) from a folder,
 * provides them as the `workflows` service, and serves /workflow-list and /workflow-info.
 */
export default definePlugin<WorkflowsOptions>({
  name: PLUGIN,
  description: 'Workflows from a folder: /workflow-list, /workflow-info, and the workflows service.',
  provides: ['workflows'],
  options: optionsSchema,
  env: { COMFY_BRIDGE_WORKFLOWS_DIR: { key: 'dir', path: true, description: 'Workflow folder.' } },
  flags: { 'workflows-dir': { key: 'dir', path: true, value: 'DIR', description: 'Workflow folder.' } },
  async register(ctx) {
    const { options } = ctx;
    const registry = new FileWorkflowRegistry({
      dir: resolve(process.cwd(), options.dir),
      log: ctx.log,
      // Looked up per request rather than declared: /workflow-info works with or without a transport.
      transport: () => ctx.tryUse('transport'),
      objectInfoTimeoutMs: options.objectInfoTimeoutMs,
    });
    await registry.reload();
    ctx.provide('workflows', registry);
    mountWorkflowRoutes(ctx, registry, () => ctx.tryUse('transport'));

    const reload = (why: string) => {
      ctx.log.info({ dir: registry.dir }, `reloading workflows (${why})`);
      void registry.reload();
    };
    const onSighup = () => reload('SIGHUP');
    process.on('SIGHUP', onSighup);
    const stopWatching = options.watch ? watchFolder(registry.dir, options.watchDebounceMs, () => reload('folder changed'), ctx.log) : () => {};
    ctx.onClose(async () => {
      process.off('SIGHUP', onSighup);
      stopWatching();
      await registry.settled();
    });
  },
});
