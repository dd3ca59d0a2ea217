import { join } from 'node:path';
import { definePlugin } from '../../core/plugin.js';
import { GenerationManager } from './generation-manager.js';
import { optionsSchema, type GenerationsOptions } from './options.js';

const PLUGIN = 'generations';

/** `http://host:port` as a client can use it: brackets for IPv6, a loopback for "every interface". */
export function origin(host: string, port: number): string {
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

export default definePlugin<GenerationsOptions>({
  name: PLUGIN,
  description: 'The life of every generation: record, submit, follow progress, copy results, recover after restarts.',
  dependencies: ['storage', 'transport'],
  optionalDependencies: ['uploads'],
  provides: ['generations'],
  options: optionsSchema,
  register(ctx) {
    const { server } = ctx.config;
    // The real port is only known once listening (port 0 picks one).
    let port = server.port;
    const publicUrl = server.publicUrl?.replace(/\/+$/, '') ?? null;
    const manager = new GenerationManager({
      storage: ctx.use('storage'),
      transport: ctx.use('transport'),
      uploads: ctx.tryUse('uploads'),
      hooks: ctx.hooks,
      log: ctx.log,
      options: ctx.options,
      resultsDir: join(ctx.config.dataDir, 'results'),
      baseUrl: () => publicUrl ?? origin(server.host, port),
    });
    ctx.provide('generations', manager);
    manager.start();

    ctx.hooks.listening.tap({ name: PLUGIN }, (httpServer) => {
      const address = httpServer.address();
      if (address && typeof address === 'object') port = address.port;
      if (!publicUrl && (server.host === '0.0.0.0' || server.host === '::')) {
        ctx.log.warn('listening on every interface without server.publicUrl: result URLs point at the loopback address');
      }
    });
    // Loading the unfinished generations is local and quick; asking backends about them runs in the background.
    ctx.hooks.ready.tapPromise({ name: PLUGIN }, async () => {
      await manager.adoptUnfinished();
    });
    ctx.onClose(() => manager.close());
  },
});
