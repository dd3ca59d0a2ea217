import { expect } from 'chai';
import type { Generation } from '../contracts/generation.js';
import type { TransportEvent } from '../contracts/transport.js';
import { apply, clientFrames, type Effect, type GenerationEvent, type Life, type Policy, type ResultUrl } from '../plugins/generations/generation.js';
import { generationRecord } from './helpers/generation.js';

/**
 * The generation's state machine as a table, without I/O: each row is a life, one event, and the
 * generation fields and effects that must follow.
 */
const NOW = '2026-12-01T12:00:00.000Z';
const POLICY: Policy = { onLost: 'resubmit', maxAttempts: 2 };
const P = 'prompt-1';
const URL_OF: ResultUrl = (g, file) => `https://bridge.example/results/${g.id}/${file}`;
const OUT = { node: '2', kind: 'images', filename: 'a.png', subfolder: '', type: 'output' };

const gen = (fields: Partial<Generation> = {}): Generation =>
  generationRecord({ id: 'gen_machine0000000000000', createdAt: '2026-12-01T11:00:00.000Z', promptId: P, backend: 'b1', totalNodes: 2, attempts: 1, ...fields });
/** A life whose last frame was published (its frameKey is its current frame's), unless told otherwise. */
const life = (fields: Partial<Generation> = {}, rest: Partial<Omit<Life, 'gen'>> = {}): Life => {
  const g = gen(fields);
  return { gen: g, phase: 'submitted', interruptRequested: false, frameKey: clientFrames(g, '', URL_OF).key, ...rest };
};
const t = (event: TransportEvent extends infer E ? (E extends unknown ? Omit<E, 'promptId' | 'backend'> : never) : never, promptId = P): GenerationEvent =>
  ({ type: 'transport', event: { ...event, promptId, backend: 'b1' } as TransportEvent });
const types = (effects: Effect[]) => effects.map((e) => e.type);

interface Row {
  name: string;
  life: Life;
  event: GenerationEvent;
  policy?: Policy;
  expect: Partial<Generation> & { phase?: Life['phase']; interruptRequested?: boolean };
  effects: Effect['type'][];
  /** The client frames published, as `status details` (+ `[end]` on the last one of the generation). */
  frames?: string[];
}

const running = { state: 'running' as const, startedAt: '2026-12-01T11:30:00.000Z' };

const ROWS: Row[] = [
  { name: 'recorded: the first frame of the client', life: life({}, { phase: 'submitting', frameKey: '' }), event: { type: 'created' }, expect: { state: 'queued' }, effects: ['publish'], frames: ['progress 0.00%'] },
  { name: 'accepted: position recorded and persisted; nothing a client sees changed', life: life({}, { phase: 'submitting' }), event: { type: 'submitted', promptId: P, position: 3 }, expect: { position: 3, phase: 'submitted' }, effects: ['persist'] },
  { name: 'accepted after an interrupt request: cancelled at once', life: life({}, { phase: 'submitting', interruptRequested: true }), event: { type: 'submitted', promptId: P, position: 0 }, expect: { phase: 'submitted' }, effects: ['persist', 'cancel'] },
  { name: 'refused at submission: failed with the reason', life: life({}, { phase: 'submitting' }), event: { type: 'submit-failed', promptId: P, reason: 'rejected' }, expect: { state: 'failed', error: 'rejected', finishedAt: NOW }, effects: ['persist', 'settle'] },
  { name: 'started: running, persisted before it is announced', life: life(), event: t({ type: 'started' }), expect: { state: 'running', startedAt: NOW, percent: 0 }, effects: ['persist', 'publish'], frames: ['progress 0.00%'] },
  { name: 'executing the first node moves the node; no frame shows it', life: life(running), event: t({ type: 'executing', node: '1' }), expect: { node: '1', percent: 0 }, effects: ['persist-soon'] },
  { name: 'moving to the next node finishes the previous one', life: life({ ...running, node: '1' }), event: t({ type: 'executing', node: '2' }), expect: { node: '2', doneNodes: ['1'], percent: 50 }, effects: ['publish', 'persist-soon'], frames: ['progress 50.00%'] },
  { name: 'a step counts as a fraction of its node', life: life({ ...running, node: '2', doneNodes: ['1'], percent: 50 }), event: t({ type: 'progress', node: '2', value: 1, max: 4 }), expect: { step: 1, maxSteps: 4, percent: 62.5 }, effects: ['publish', 'persist-soon'] },
  { name: 'cached nodes count as done', life: life(running), event: t({ type: 'cached', nodes: ['1'] }), expect: { doneNodes: ['1'], percent: 50 }, effects: ['publish', 'persist-soon'] },
  { name: 'an event that changes nothing is not announced', life: life({ ...running, node: '1' }), event: t({ type: 'executing', node: '1' }), expect: { node: '1' }, effects: [] },
  { name: 'percent never goes down (a resubmission starts over)', life: life({ ...running, percent: 75 }), event: t({ type: 'executing', node: '1' }), expect: { percent: 75, node: '1' }, effects: ['persist-soon'] },
  { name: 'completed: the results are copied first', life: life(running), event: t({ type: 'completed', outputs: [OUT] }), expect: { state: 'running', phase: 'ending' }, effects: ['copy-results'] },
  { name: 'results copied: completed at 100', life: life({ ...running, percent: 50, node: '2', step: 1, maxSteps: 4 }, { phase: 'ending' }), event: { type: 'results-copied', promptId: P, results: [{ filename: 'a.png', contentType: 'image/png', size: 1, node: '2', kind: 'images' }] }, expect: { state: 'completed', percent: 100, node: null, step: null, maxSteps: null, finishedAt: NOW }, effects: ['persist', 'settle'], frames: ['progress 100.00%', 'closed Execution is done [end]'] },
  { name: 'completed after 100.00% was shown: no second 100.00%', life: life({ ...running, percent: 100, doneNodes: ['1', '2'] }, { phase: 'ending' }), event: { type: 'results-copied', promptId: P, results: [] }, expect: { state: 'completed' }, effects: ['persist', 'settle'], frames: ['closed Execution is done [end]'] },
  { name: 'copying failed: failed with the reason', life: life(running, { phase: 'ending' }), event: { type: 'copy-failed', promptId: P, reason: 'disk full' }, expect: { state: 'failed', error: 'disk full' }, effects: ['persist', 'settle'] },
  { name: 'a node raised: failed naming node and exception', life: life(running), event: t({ type: 'failed', node: '2', nodeType: 'SaveImage', exceptionType: 'RuntimeError', message: 'boom' }), expect: { state: 'failed', node: '2', error: 'node 2 (SaveImage) raised RuntimeError: boom' }, effects: ['persist', 'settle'], frames: ['error node 2 (SaveImage) raised RuntimeError: boom', 'closed Execution ended: failed [end]'] },
  { name: 'interrupted on request', life: life(running, { interruptRequested: true }), event: t({ type: 'interrupted', node: '1' }), expect: { state: 'interrupted', error: 'interrupted on request' }, effects: ['persist', 'settle'], frames: ['error interrupted on request', 'closed Execution ended: interrupted [end]'] },
  { name: 'interrupted by someone else on the backend', life: life(running), event: t({ type: 'interrupted', node: null }), expect: { state: 'interrupted', error: 'interrupted on ComfyUI backend b1' }, effects: ['persist', 'settle'] },
  { name: 'stuck: failed with the transport\'s reason', life: life(running), event: t({ type: 'stuck', reason: 'no news for 5 s' }), expect: { state: 'failed', error: 'no news for 5 s' }, effects: ['persist', 'settle'] },
  { name: 'lost on the first attempt: resubmitted', life: life(running), event: t({ type: 'lost', reason: 'gone' }), expect: { state: 'running', phase: 'submitting' }, effects: ['resubmit'] },
  { name: 'lost again: failed, saying how often it was submitted', life: life({ ...running, attempts: 2 }), event: t({ type: 'lost', reason: 'gone' }), expect: { state: 'failed', error: 'gone; it was already submitted 2 time(s)' }, effects: ['persist', 'settle'] },
  { name: "lost with onLost 'fail': failed at once", life: life(running), policy: { onLost: 'fail', maxAttempts: 2 }, event: t({ type: 'lost', reason: 'gone' }), expect: { state: 'failed', error: 'gone' }, effects: ['persist', 'settle'] },
  { name: 'resubmitted: queued again under a new prompt, progress reset, percent kept', life: life({ ...running, doneNodes: ['1'], node: '2', percent: 50 }, { phase: 'submitting' }), event: { type: 'resubmitted', promptId: 'prompt-2', backend: 'b2', graph: { '9': { class_type: 'X', inputs: {} } }, reason: 'gone' }, expect: { state: 'queued', promptId: 'prompt-2', backend: 'b2', attempts: 2, doneNodes: [], node: null, percent: 50, startedAt: null, position: null }, effects: ['persist', 'publish', 'submit'], frames: ['progress backend lost, resubmitting: gone'] },
  { name: 'resubmitted while still queued at the same percent: its client is told all the same', life: life({ percent: 0 }, { phase: 'submitting', frameKey: 'progress|0.00%|queued' }), event: { type: 'resubmitted', promptId: 'prompt-2', backend: 'b2', graph: { '9': { class_type: 'X', inputs: {} } }, reason: 'ComfyUI backend b1 refuses connections' }, expect: { state: 'queued', attempts: 2 }, effects: ['persist', 'publish', 'submit'], frames: ['progress backend lost, resubmitting: ComfyUI backend b1 refuses connections'] },
  { name: 'resubmission impossible: failed', life: life(running, { phase: 'submitting' }), event: { type: 'resubmit-failed', promptId: P, reason: 'gone, and no backend' }, expect: { state: 'failed', error: 'gone, and no backend' }, effects: ['persist', 'settle'] },
  { name: 'interrupt while followed: cancel', life: life(running), event: { type: 'interrupt' }, expect: { interruptRequested: true }, effects: ['cancel'] },
  { name: 'a cancel that could not reach the backend: the refused request changed nothing', life: life(running, { interruptRequested: true }), event: { type: 'interrupt-failed' }, expect: { state: 'running', interruptRequested: false }, effects: [] },
  { name: 'interrupt mid-submission: remembered for when it is accepted', life: life({}, { phase: 'submitting' }), event: { type: 'interrupt' }, expect: { interruptRequested: true }, effects: [] },
  { name: 'interrupt while results are copied: too late to cancel', life: life(running, { phase: 'ending' }), event: { type: 'interrupt' }, expect: { interruptRequested: true }, effects: [] },
  { name: 'an event of an earlier prompt changes nothing', life: life(running), event: t({ type: 'completed', outputs: [] }, 'prompt-0'), expect: { state: 'running', phase: 'submitted' }, effects: [] },
  { name: 'nothing changes an ended generation', life: life({ state: 'completed', percent: 100 }), event: t({ type: 'failed', node: null, nodeType: null, exceptionType: null, message: 'late' }), expect: { state: 'completed', error: null }, effects: [] },
  { name: 'a second end of the same prompt is ignored while copying', life: life(running, { phase: 'ending' }), event: t({ type: 'interrupted', node: null }), expect: { state: 'running' }, effects: [] },
];

describe('generations: the state machine (pure, as a table)', () => {
  for (const row of ROWS) {
    it(row.name, () => {
      const frozen = structuredClone(row.life);
      const { life: next, effects } = apply(row.life, row.event, { now: NOW, policy: row.policy ?? POLICY, resultUrl: URL_OF });
      expect(row.life, 'the input is never changed').to.deep.equal(frozen);
      const { phase, interruptRequested, ...fields } = row.expect;
      expect(next.gen).to.deep.include(fields);
      if (phase !== undefined) expect(next.phase).to.equal(phase);
      if (interruptRequested !== undefined) expect(next.interruptRequested).to.equal(interruptRequested);
      expect(types(effects)).to.deep.equal(row.effects);
      if (row.frames) {
        const frames = effects.flatMap((e) => (e.type === 'publish' || e.type === 'settle' ? e.frames : []));
        expect(frames.map((f) => `${f.status} ${f.details}${f.ends ? ' [end]' : ''}`)).to.deep.equal(row.frames);
        for (const frame of frames) expect(frame.generationId).to.equal(row.life.gen.id);
      }
      // No effect and no flag set: the very same life (nothing to persist or announce).
      if (row.effects.length === 0 && interruptRequested === undefined) expect(next).to.equal(row.life);
    });
  }
});
