import { FINAL_STATES, type Generation } from '../../contracts/generation.js';
import { notFound } from '../../core/errors.js';
import { definePlugin } from '../../core/plugin.js';
import { createGenerationHooks, type GenerationService } from './api.js';
import { buildFrame } from './generation.js';
import { optionsSchema, type GenerationsOptions } from './options.js';
import { LeaseKeeper } from './leases.js';
import { RemoteInterrupts } from './remote-interrupt.js';
import { Runner } from './runner.js';

const PLUGIN = 'generations';

export default definePlugin<GenerationsOptions>({
  name: PLUGIN,
  description: 'The life of every generation: record, submit, follow progress, copy results, recover after restarts.',
  dependencies: ['storage', 'transport', 'bus', 'results'],
  optionalDependencies: ['uploads'],
  provides: ['generations'],
  options: optionsSchema,
  register(ctx) {
    const storage = ctx.use('storage');
    const results = ctx.use('results');
    const hooks = createGenerationHooks();
    const resultUrl = (gen: Generation, filename: string) => results.url(gen.id, filename);
    const runner = new Runner({
      storage,
      transport: ctx.use('transport'),
      uploads: ctx.tryUse('uploads'),
      hooks,
      log: ctx.log,
      options: ctx.options,
      results,
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

    // A shared store means a fleet: a generation may be followed by another instance, which cancels it on request.
    const remote = storage.shared
      ? new RemoteInterrupts({
          bus: ctx.use('bus'),
          generations: storage.generations,
          instance: storage.leases.instance,
          leaseTtlMs: storage.leases.ttlMs,
          local: (id) => runner.interrupt(id),
          // The lease keeper is made below; a claim only happens once requests come in.
          claim: () => leases.claim(),
          log: ctx.log,
        })
      : undefined;
    remote?.start();
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
        if (!remote || FINAL_STATES.has(gen.state)) return gen;
        return remote.interrupt(id);
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
      activeCount: (clientId) => runner.activeCount(clientId),
      heldCount: () => runner.heldCount(),
    };
    ctx.provide('generations', service);

    // Claiming unfinished generations nobody follows reads an index, not the history; the transport
    // checks them in the background. Leases are released once the runner wrote what was pending.
    const leases = new LeaseKeeper({ leases: storage.leases, runner, hooks, log: ctx.log });
    ctx.hooks.ready.tapPromise({ name: PLUGIN }, () => leases.start());
    ctx.onClose(async () => {
      remote?.stop();
      await leases.stop();
      await runner.close();
      await leases.release();
    });
  },
});
