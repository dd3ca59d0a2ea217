import type { Generation } from '../../contracts/generation.js';
import type { GenerationContext } from './generation-context.js';
import type { LiveGeneration } from './live-generation.js';

/** What persisting writes: everything that changes while a generation lives (not the graph unless asked). */
function changingFields(gen: Generation): Partial<Generation> {
  const { id: _id, graph: _graph, createdAt: _c, clientId: _cl, owner: _o, workflow: _w, uploads: _u, uploadInputs: _ui, ...rest } = gen;
  return rest;
}

export async function persist(ctx: GenerationContext, live: LiveGeneration, extra: Partial<Generation> = {}): Promise<void> {
  if (live.persistTimer) clearTimeout(live.persistTimer);
  live.persistTimer = null;
  live.dirty = false;
  live.lastPersistAt = Date.now();
  live.gen.updatedAt = new Date().toISOString();
  try {
    await ctx.deps.storage.generations.update(live.gen.id, { ...changingFields(live.gen), ...extra });
  } catch (error) {
    live.log.error({ err: error }, 'could not persist the generation');
  }
}

/** Percent-only changes: at most one write per progressPersistMs per generation. */
export function persistSoon(ctx: GenerationContext, live: LiveGeneration): void {
  live.dirty = true;
  if (live.persistTimer || ctx.closed) return;
  const delay = Math.max(0, live.lastPersistAt + ctx.deps.options.progressPersistMs - Date.now());
  live.persistTimer = setTimeout(() => {
    live.persistTimer = null;
    void live.run(async () => {
      if (live.dirty && !live.ended) await persist(ctx, live);
    });
  }, delay);
  live.persistTimer.unref();
}
