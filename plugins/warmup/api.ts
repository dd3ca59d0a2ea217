/** One workflow's warm-up on one backend. */
export interface WarmupStatus {
  backend: string;
  workflow: string;
  /**
   * queued (waiting its turn on the backend) | running | done | failed (the last one ended so) |
   * skipped (the backend left before its turn; its next connect queues it again).
   */
  state: 'queued' | 'running' | 'done' | 'failed' | 'skipped';
  /** How long the last finished warm-up took, submission to end (queue wait included); null before one finished. */
  seconds: number | null;
}

export interface WarmupService {
  /** Every warm-up the bridge started since it started, per backend and workflow. */
  status(): WarmupStatus[];
  /**
   * Why /ready should hold traffic back: a marked workflow whose warm-up is still pending on every
   * capable backend that is up. Always [] unless the `readyWaits` option is on.
   */
  readinessReasons(): string[];
}

declare module '../../core/services.js' {
  interface ServiceMap {
    /** Warm-up runs of marked workflows on each capable backend (plugins/warmup). */
    warmup: WarmupService;
  }
}
