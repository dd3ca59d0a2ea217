import { monitorEventLoopDelay } from 'node:perf_hooks';

/** Event-loop delay percentiles in ms. */
export interface LoopDelay {
  p50: number;
  p99: number;
  max: number;
}

/**
 * Watches the event loop's delay (perf_hooks monitorEventLoopDelay, 5 ms resolution) while `work`
 * runs: how long any other request of the process would wait to be looked at.
 */
export async function withLoopDelay<T extends object>(work: () => Promise<T>): Promise<T & { loopDelayMs: LoopDelay }> {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  const result = await work();
  histogram.disable();
  const ms = (ns: number) => Math.round(ns / 1e4) / 100;
  return { ...result, loopDelayMs: { p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max) } };
}
