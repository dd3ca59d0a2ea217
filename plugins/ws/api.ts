/** Every counter of the websocket plugin at one moment. */
export interface WsStatsSnapshot {
  /** Sockets open now. */
  connected: number;
  /** Distinct clientIds with at least one socket open now. */
  clientIds: number;
  /** Upgrades accepted since start. */
  acceptedTotal: number;
  /** Upgrades refused (bad path, bad clientId, auth, cap, shutdown) since start. */
  rejectedTotal: number;
  /** Sockets cut off because their send buffer overflowed (slow consumers) since start. */
  droppedSlowTotal: number;
  /** Sockets cut off because they stopped answering pings since start. */
  droppedDeadTotal: number;
  /** Frames written to sockets since start (a frame fanned out to 3 sockets counts 3). */
  framesSentTotal: number;
}

/** Provided by plugins/ws as the `wsStats` service: live counters for /metrics and admin pages. */
export interface WsStats {
  /** Sockets open now. */
  clients(): number;
  /** Sockets cut off as slow consumers since start. */
  droppedSlowConsumers(): number;
  snapshot(): WsStatsSnapshot;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    /** Live websocket counters (plugins/ws). */
    wsStats: WsStats;
  }
}
