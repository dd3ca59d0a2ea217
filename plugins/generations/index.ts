import { join } from 'node:path';
import type { Generation } from '../../core/contracts/generation.js';
import { notFound } from '../../core/errors.js';
import { definePlugin } from '../../core/plugin.js';
import { createGenerationHooks, type GenerationService } from './api.js';
import { buildFrame } from './generation.js';
import { GENERATION_ID } from './ids.js';
import { optionsSchema, type GenerationsOptions } from './options.js';
import { adoptUnfinished } from './recovery.js';
import { safeFileName } from './result-files.js';
import { Runner } from './runner.js';

const PLUGIN = 'generations';

/** `http://host:port` as a client can use it: brackets for IPv6, a loopback for "every interface". */
export function origin(host: string, port: number): string {
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

export default definePlugin<GenerationsOptions>({
  name: PLUGIN,
  description: 'The life of every generation: record, submit, follow progress, copy results, recover after restarts.',
  dependencies: ['storage', 'transport', 'bus'],
  optionalDependencies: ['uploads'],
  provides: ['generations'],
  options: optionsSchema,
  register(ctx) {
    const { server } = ctx.config;
    // The real port is only known once listening (port 0 picks one).
    let port = server.port;
    const publicUrl = server.publicUrl?.replace(/\/+$/, '') ?? null;
    const baseUrl = () => publicUrl ?? origin(server.host, port);
    const resultsDir = join(ctx.config.dataDir, 'results');
    const storage = ctx.use('storage');
    const hooks = createGenerationHooks();
    const resultUrl = (gen: Generation, filename: string) => `${baseUrl()}/results/${encodeURIComponent(gen.id)}/${encodeURIComponent(filename)}`;
    const runner = new Runner({
      storage,
      transport: ctx.use('transport'),
      uploads: ctx.tryUse('uploads'),
      hooks,
      log: ctx.log,
      options: ctx.options,
      resultsDir,
      bus: ctx.use('bus'),
      resultUrl,
    });

    // `wait: true` and the like: one tap on `settled` serves every waiter.
    const waiters = new Map<string, Set<(gen: Generation) => void>>();
    hooks.settled.tap(PLUGIN, (gen) => {
      const waiting = waiters.get(gen.id);
      waiters.delete(gen.id);
      for (const resolve of waiting ?? []) resolve(gen);
    });

    const service: GenerationService = {
      hooks,
      create: (request) => runner.create(request),
      async get(id) {
        return runner.live(id) ?? storage.generations.get(id);
      },
      async latestForClient(clientId) {
        const stored = await storage.generations.latestForClient(clientId);
        return (stored && runner.live(stored.id)) ?? stored;
      },
      async interrupt(id) {
        const live = await runner.interrupt(id);
        if (live) return live;
        const gen = await storage.generations.get(id);
        if (!gen) throw notFound(`no generation ${id}`);
        return gen;
      },
      async waitForEnd(id, timeoutMs) {
        if (!runner.live(id)) return service.get(id);
        return new Promise((resolve) => {
          const done = (gen: Generation | undefined) => {
            clearTimeout(timer);
            waiting.delete(done);
            if (waiting.size === 0 && waiters.get(id) === waiting) waiters.delete(id);
            resolve(gen);
          };
          const waiting = waiters.get(id) ?? new Set();
          waiters.set(id, waiting);
          waiting.add(done);
          const timer = setTimeout(() => done(undefined), timeoutMs);
        });
      },
      frame: (gen) => buildFrame(gen, resultUrl),
      resultUrl,
      resultPath(gen, filename) {
        // Only names the bridge itself made are ever joined to a path.
        if (!GENERATION_ID.test(gen.id) || safeFileName(filename) !== filename) throw notFound(`no result ${filename}`);
        return join(resultsDir, gen.id, filename);
      },
      activeCount: (clientId) => runner.activeCount(clientId),
    };
    ctx.provide('generations', service);

    ctx.hooks.listening.tap({ name: PLUGIN }, (httpServer) => {
      const address = httpServer.address();
      if (address && typeof address === 'object') port = address.port;
      if (!publicUrl && (server.host === '0.0.0.0' || server.host === '::')) {
        ctx.log.warn('listening on every interface without server.publicUrl: result URLs point at the loopback address');
      }
    });
    // Loading the unfinished generations is local and quick; the transport checks them in the background.
    ctx.hooks.ready.tapPromise({ name: PLUGIN }, async () => {
      await adoptUnfinished(storage, runner, ctx.log);
    });
    ctx.onClose(() => runner.close());
  },
});
