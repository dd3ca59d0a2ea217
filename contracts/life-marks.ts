import { channel } from 'node:diagnostics_channel';

/**
 * Marks along a generation's life (request read, row in the file, POST /prompt, frames in, result file,
 * final row synced, `closed`), for the lifecycle trace (`npx tsx bench/p9-marks.ts`, docs/performance.md).
 * Off by default: while nothing subscribes to the channel (the trace's preload does, in the bridge process),
 * a mark is one property read. The subscriber takes the time, so a mark carries only its name.
 */
export const lifeMarks = channel('comfy-bridge:life');

/** `of`: what the step is of (a datafile's name), added to its name only when something listens. */
export function markLife(step: string, of?: string): void {
  if (lifeMarks.hasSubscribers) lifeMarks.publish(of === undefined ? step : `${step} ${of}`);
}
