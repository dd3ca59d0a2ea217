import type { ClientFrame } from '../../contracts/client-frame.js';
import { FINAL_STATES, type Generation } from '../../core/contracts/generation.js';
import type { GenerationFrame } from '../../core/contracts/generations.js';

export type ResultUrl = (gen: Generation, file: string) => string;

/** The SPEC §2.1/§3 frame of a generation: what a websocket client or /execution-info sees. */
export function buildFrame(gen: Generation, resultUrl: ResultUrl): GenerationFrame {
  const done = gen.state === 'completed';
  const ended = gen.state === 'failed' || gen.state === 'interrupted';
  const data = {
    id: gen.id,
    workflow: gen.workflow,
    state: gen.state,
    position: gen.position,
    percent: done ? 100 : gen.percent,
    node: gen.node,
    step: gen.step,
    max_steps: gen.maxSteps,
    result_urls: done ? gen.results.map((r) => resultUrl(gen, r.filename)) : [],
    error_message: ended ? (gen.error ?? describeEnd(gen)) : null,
    queued_at: gen.createdAt,
    started_at: gen.startedAt,
    finished_at: gen.finishedAt,
  };
  if (done) return { status: 'closed', details: 'Execution is done', data };
  if (ended) return { status: 'error', details: data.error_message ?? describeEnd(gen), data };
  return { status: 'progress', details: `${gen.percent.toFixed(2)}%`, data };
}

function describeEnd(gen: Generation): string {
  return gen.state === 'interrupted' ? 'The generation was interrupted' : 'The generation failed';
}

/** A client frame before the bus numbers it and before `active` is known. */
export type RenderedFrame = Omit<ClientFrame, 'active'>;

/**
 * Every websocket frame a change of `gen` means, rendered completely (SPEC §2.1), and the key to
 * pass next time. `lastKey` is the key this function returned for the generation's previous
 * change ('' for none):
 * - a progress whose status, details and state did not change is no frame (storage writes such as
 *   the position change nothing a client sees);
 * - a completed generation always shows `100.00%` before its `closed`, even when it jumped there;
 * - a failed or interrupted one sends `error`, then a `closed` naming its state.
 */
export function clientFrames(gen: Generation, lastKey: string, resultUrl: ResultUrl): { frames: RenderedFrame[]; key: string } {
  const frame = buildFrame(gen, resultUrl);
  const of = (f: GenerationFrame, ends: boolean): RenderedFrame => ({ ...f, generationId: gen.id, ends });
  if (!FINAL_STATES.has(gen.state)) {
    const key = `${frame.status}|${frame.details}|${gen.state}`;
    return key === lastKey ? { frames: [], key } : { frames: [of(frame, false)], key };
  }
  const frames: RenderedFrame[] = [];
  if (gen.state === 'completed' && !lastKey.startsWith('progress|100.00%|')) {
    frames.push(of({ status: 'progress', details: '100.00%', data: { ...frame.data, percent: 100 } }, false));
  }
  if (frame.status === 'error') {
    frames.push(of(frame, false));
    frames.push(of({ status: 'closed', details: `Execution ended: ${gen.state}`, data: { id: gen.id, state: gen.state } }, true));
  } else {
    frames.push(of(frame, true));
  }
  return { frames, key: `ended|${gen.state}` };
}
