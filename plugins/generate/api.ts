import type { QuotaLimit } from './quota-options.js';

/** Provided by plugins/generate as the `quotaStats` service: what /metrics reads. */
export interface QuotaStats {
  /** Requests refused 429 `quota_exceeded` since start (this process), by the limit they hit. */
  refusals(): Record<QuotaLimit, number>;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    /** Quota refusals by limit (plugins/generate). */
    quotaStats: QuotaStats;
  }
}
