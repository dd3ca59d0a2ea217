import { channel } from 'node:diagnostics_channel';

/**
 * Marks along a generation's life (request read, row in the file, POST /prompt, frames in, result file,
 * final row synced, `closed`), for the lifecycle trace (`npx tsx bench/p9-marks.ts`, docs/performance.md).
 * Off unless something subscribes to the channel (the trace's preload does, in the bridge process): then
 * a mark is one property read. The subscriber takes the time, so a mark carries only its name.
 */
const marks = channel('comfy-bridge:life');

/** `of`: what the step is of (a datafile's name), added to its name only when something listens. */
export function markLife(step: string, of?: string): void {
  if (marks.hasSubscribers) marks.publish(of === undefined ? step : `${step} ${of}`);
}
