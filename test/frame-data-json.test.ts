import { expect } from 'chai';
import { frameDataEncoders, type ClientFrame } from '../contracts/client-frame.js';
import type { Generation } from '../contracts/generation.js';
import type { TransportEvent } from '../contracts/transport.js';
import { encodeProgressData } from '../plugins/generations/frame-data-json.js';
import { apply, clientFrames, type Effect, type Life, type ResultUrl } from '../plugins/generations/generation.js';
import { generationRecord } from './helpers/generation.js';

/**
 * The progress frames' data, encoded by the machine from a template (frame-data-json.ts) so the ws hub
 * does not encode it again: it must be JSON.stringify(data), byte for byte, whatever the values.
 */
const URL_OF: ResultUrl = (g, file) => `/results/${g.id}/${file}`;
const CONTEXT = { now: '2026-12-01T12:00:00.000Z', policy: { onLost: 'fail' as const, maxAttempts: 1 }, resultUrl: URL_OF };

/** A progress-kind transport event of the life's prompt (`type` and its own fields). */
function progress(life: Life, event: { type: 'progress' | 'executing' | 'executed'; node: string; value?: number; max?: number }) {
  return apply(life, { type: 'transport', event: { outputs: [], ...event, promptId: life.gen.promptId, backend: 'b1' } as TransportEvent }, CONTEXT);
}

const published = (effects: Effect[]): ClientFrame['data'][] =>
  effects.flatMap((effect) => (effect.type === 'publish' ? effect.frames.map((frame) => frame.data) : []));

describe('progress frame data, encoded once by the machine', () => {
  const odd: Partial<Generation>[] = [
    { workflow: 'plain' },
    { workflow: 'quote " backslash \\ newline \n tab \t', position: 3 },
    { workflow: 'unicode é 漢字 \u2028 \u0001 😀', position: null, startedAt: null },
    { workflow: 'w', clientId: 'c"', position: 0, percent: 12.5 },
  ];

  for (const fields of odd) {
    it(`is exactly JSON.stringify(data) for every frame (${JSON.stringify(fields.workflow)})`, () => {
      const gen = generationRecord({ id: 'gen_json00000000000000000', createdAt: '2026-12-01T11:00:00.000Z', state: 'running', startedAt: '2026-12-01T11:30:00.000Z', totalNodes: 3, ...fields });
      let life: Life = { gen, phase: 'submitted', interruptRequested: false, frameKey: clientFrames(gen, '', URL_OF).key };
      const events = [
        { type: 'executing', node: 'n"1' } as const,
        ...Array.from({ length: 7 }, (_, i) => ({ type: 'progress', node: 'n"1', value: i + 1, max: 7 }) as const),
        { type: 'executed', node: 'n"1' } as const,
        { type: 'executing', node: '2' } as const,
        { type: 'progress', node: '2', value: 1, max: 3 } as const,
      ];
      let checked = 0;
      for (const event of events) {
        const step = progress(life, event);
        for (const data of published(step.effects)) {
          const encoder = frameDataEncoders.get(data);
          expect(encoder?.encode(data)).to.equal(JSON.stringify(data));
          // The same as UTF-8 bytes, written in place (the fixed fields may be anything, the moving ones are ASCII here).
          const target = new Uint8Array(4096).fill(0x2a);
          const end = encoder!.writeInto!(data, target, 3);
          expect(Buffer.from(target.subarray(3, end)).equals(Buffer.from(JSON.stringify(data)))).to.equal(true);
          expect(target[end], 'nothing written past the end').to.equal(0x2a);
          checked++;
        }
        life = step.life;
      }
      expect(checked).to.be.at.least(5);
    });
  }

  it('reuses its template while the fixed fields hold, and makes a new one when one moves', () => {
    const gen = generationRecord({ id: 'gen_json00000000000000000', createdAt: '2026-12-01T11:00:00.000Z', state: 'running', startedAt: '2026-12-01T11:30:00.000Z', totalNodes: 2, position: 1 });
    const first = progress({ gen, phase: 'submitted', interruptRequested: false, frameKey: '' }, { type: 'progress', node: '1', value: 1, max: 4 }).life;
    const second = progress(first, { type: 'progress', node: '1', value: 2, max: 4 });
    expect(second.life.wire).to.equal(first.wire).and.not.equal(undefined);
    const moved: Life = { ...second.life, gen: { ...second.life.gen, position: 0 } };
    const third = progress(moved, { type: 'progress', node: '1', value: 3, max: 4 });
    expect(third.life.wire).to.not.equal(first.wire);
    const [data] = published(third.effects);
    expect(frameDataEncoders.get(data!)?.encode(data!)).to.equal(JSON.stringify(data)).and.include('"position":0,');
  });

  it('writes no bytes where they do not fit, or where a moving value is not ASCII (-1: the hub then encodes the text)', () => {
    const gen = generationRecord({ id: 'gen_json00000000000000000', createdAt: '2026-12-01T11:00:00.000Z', state: 'running', startedAt: '2026-12-01T11:30:00.000Z', totalNodes: 2, position: 0 });
    const [data] = published(progress({ gen, phase: 'submitted', interruptRequested: false, frameKey: '' }, { type: 'progress', node: '1', value: 1, max: 4 }).effects);
    const encoder = frameDataEncoders.get(data!)!;
    const length = Buffer.byteLength(JSON.stringify(data));
    expect(encoder.writeInto!(data!, new Uint8Array(length), 0)).to.equal(length);
    expect(encoder.writeInto!(data!, new Uint8Array(length - 1), 0)).to.equal(-1);
    expect(encoder.writeInto!(data!, new Uint8Array(length + 10), 11)).to.equal(-1);
    expect(encoder.writeInto!(data!, new Uint8Array(length), -1)).to.equal(-1);
    // A moving value that is not ASCII is not written byte by byte either.
    expect(encoder.writeInto!({ ...data!, node: 'é' }, new Uint8Array(4096), 0)).to.equal(-1);
  });

  it('writes every number of a moving value as JSON.stringify does (integers digit by digit, percents from kept texts)', () => {
    const gen = generationRecord({ id: 'gen_json00000000000000000', createdAt: '2026-12-01T11:00:00.000Z', state: 'running', startedAt: '2026-12-01T11:30:00.000Z', totalNodes: 2, position: 0 });
    const [data] = published(progress({ gen, phase: 'submitted', interruptRequested: false, frameKey: '' }, { type: 'progress', node: '1', value: 1, max: 4 }).effects);
    const encoder = frameDataEncoders.get(data!)!;
    const numbers = [0, -0, 9, 10, 99, 100, 12.5, 12.34, 33.33, 99.99, 100, 0.01, 1e-7, -1, -12.5, 2 ** 53 - 1, 2 ** 53, 2 ** 60, 1e21, 1.5e300, NaN, Infinity];
    for (const n of numbers) {
      // Twice each, and a number of the same hundredth between: a kept text is the text of that very number.
      for (const value of [n, n + 1e-9, n]) {
        const moved = { ...data!, percent: value, step: value, max_steps: value };
        const target = new Uint8Array(4096);
        const end = encoder.writeInto!(moved, target, 0);
        expect(Buffer.from(target.subarray(0, end)).toString('latin1'), String(value)).to.equal(JSON.stringify(moved));
      }
    }
  });

  it('encodes nothing for a row with a field missing (JSON.stringify would leave its key out)', () => {
    const gen = generationRecord({ id: 'gen_json00000000000000000', createdAt: '2026-12-01T11:00:00.000Z', state: 'running', startedAt: '2026-12-01T11:30:00.000Z', totalNodes: 2 });
    const old = { ...gen, position: undefined } as unknown as Generation;
    const data = { id: old.id, position: undefined, percent: 10, result_urls: [], error_message: null };
    expect(encodeProgressData(old, data, undefined)).to.equal(undefined);
    expect(frameDataEncoders.has(data)).to.equal(false);
  });
});
