import type { Generation } from '../../contracts/generation.js';
import type { TransportEvent } from '../../contracts/transport.js';

type ProgressEvent = Extract<TransportEvent, { type: 'started' | 'cached' | 'executing' | 'progress' | 'executed' }>;

/** Whether an event moved the generation to `running` (a state change) or only moved its progress. */
export type ProgressChange = 'state' | 'progress' | 'none';

export function isProgressEvent(event: TransportEvent): event is ProgressEvent {
  return event.type === 'started' || event.type === 'cached' || event.type === 'executing' || event.type === 'progress' || event.type === 'executed';
}

/**
 * Overall completion in percent, two decimals, rounded down so 100 only shows when everything ran:
 * (nodes done + the current node's step fraction) / nodes that will run.
 */
export function computePercent(gen: Pick<Generation, 'doneNodes' | 'totalNodes' | 'node' | 'step' | 'maxSteps'>): number {
  if (gen.totalNodes <= 0) return 0;
  const done = Math.min(gen.doneNodes.length, gen.totalNodes);
  let fraction = 0;
  if (gen.node !== null && !gen.doneNodes.includes(gen.node) && gen.step !== null && gen.maxSteps !== null && gen.maxSteps > 0) {
    fraction = Math.min(Math.max(gen.step / gen.maxSteps, 0), 1);
  }
  const raw = ((Math.min(done + fraction, gen.totalNodes)) / gen.totalNodes) * 100;
  return Math.floor(raw * 100 + 1e-7) / 100;
}

function markDone(gen: Generation, node: string): boolean {
  if (gen.doneNodes.includes(node)) return false;
  gen.doneNodes.push(node);
  return true;
}

/** The node that was executing has finished once ComfyUI moves on to another one. */
function moveTo(gen: Generation, node: string): void {
  if (gen.node === node) return;
  if (gen.node !== null) markDone(gen, gen.node);
  gen.node = node;
  gen.step = null;
  gen.maxSteps = null;
}

/**
 * Applies one ComfyUI progress event to the generation in place. Percent never goes down, whatever
 * the events say (a resubmission starts over without showing less).
 */
export function applyProgress(gen: Generation, event: ProgressEvent, now: string): ProgressChange {
  const before = { state: gen.state, percent: gen.percent, node: gen.node, step: gen.step, done: gen.doneNodes.length };
  switch (event.type) {
    case 'started':
      break;
    case 'cached':
      for (const node of event.nodes) markDone(gen, node);
      break;
    case 'executing':
      moveTo(gen, event.node);
      break;
    case 'progress':
      moveTo(gen, event.node);
      gen.step = event.value;
      gen.maxSteps = event.max;
      break;
    case 'executed':
      markDone(gen, event.node);
      break;
  }
  if (gen.state === 'queued') {
    gen.state = 'running';
    gen.startedAt ??= now;
  }
  gen.percent = Math.max(gen.percent, computePercent(gen));
  if (gen.state !== before.state) return 'state';
  const moved = gen.percent !== before.percent || gen.node !== before.node || gen.step !== before.step || gen.doneNodes.length !== before.done;
  return moved ? 'progress' : 'none';
}

/** Back to the start for a new submission; percent stays where it was (it never goes backwards). */
export function resetProgress(gen: Generation): void {
  gen.doneNodes = [];
  gen.node = null;
  gen.step = null;
  gen.maxSteps = null;
}
