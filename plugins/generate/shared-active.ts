import type { Storage } from '../../contracts/storage.js';
import type { ActiveCounts } from './active-cap.js';

/**
 * Queued + running generations counted from a store that several instances share, so the 429 caps are
 * the fleet's, not one process's: one statement when the store counts both at once (storage-postgres,
 * from its tallies), else the whole bridge from the running counts and one client from its counted
 * history filters (index or tally reads, never a scan).
 */
export function storedActiveCounts(storage: Storage): (clientId: string) => Promise<ActiveCounts> {
  return async (clientId) => {
    const store = storage.generations;
    if (store.activeCounts) return store.activeCounts(clientId);
    const [{ byState }, queued, running] = await Promise.all([
      store.counts(),
      ...(['queued', 'running'] as const).map((state) => store.page({ clientId, state, limit: 1, offset: 0 })),
    ]);
    return { client: queued!.total + running!.total, all: byState.queued + byState.running };
  };
}
