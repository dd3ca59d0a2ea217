import type { Storage } from '../../contracts/storage.js';

/**
 * Queued + running generations counted from a store that several instances share, so the 429 caps are
 * the fleet's, not one process's: the whole bridge from the running counts, one client from its
 * counted history filters (both are index or tally reads on storage-postgres, never a scan).
 */
export function storedActiveCount(storage: Storage): (clientId?: string) => Promise<number> {
  return async (clientId) => {
    if (clientId === undefined) {
      const { byState } = await storage.generations.counts();
      return byState.queued + byState.running;
    }
    const [queued, running] = await Promise.all(
      (['queued', 'running'] as const).map((state) => storage.generations.page({ clientId, state, limit: 1, offset: 0 })),
    );
    return queued!.total + running!.total;
  };
}
