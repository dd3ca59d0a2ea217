import type { WsStats, WsStatsSnapshot } from '../../plugins/ws/api.js';

/** The counters behind the `wsStats` service; the hub bumps them, readers get copies. */
export class MutableWsStats implements WsStatsSnapshot {
  connected = 0;
  clientIds = 0;
  acceptedTotal = 0;
  rejectedTotal = 0;
  droppedSlowTotal = 0;
  droppedDeadTotal = 0;
  framesSentTotal = 0;
}

/** The read-only service other plugins (metrics) see. */
export function statsService(stats: MutableWsStats): WsStats {
  return Object.freeze({
    clients: () => stats.connected,
    droppedSlowConsumers: () => stats.droppedSlowTotal,
    snapshot: (): WsStatsSnapshot => ({ ...stats }),
  });
}
