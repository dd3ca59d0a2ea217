import type { Generation } from '../../contracts/generation.js';
import type { GenerationFrame } from '../../plugins/generations/api.js';

/** The SPEC §2.1/§3 frame of a generation: what a websocket client or /execution-info sees. */
export function buildFrame(gen: Generation, resultUrl: (gen: Generation, file: string) => string): GenerationFrame {
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
