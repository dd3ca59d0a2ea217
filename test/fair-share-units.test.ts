import { expect } from 'chai';
import type { Generation } from '../contracts/generation.js';
import { FairQueue, type BackendChoice } from '../plugins/generations/fair-queue.js';
import { apply, clientFrames, type Life, type StepContext } from '../plugins/generations/generation.js';
import { generationRecord } from './helpers/generation.js';

/** Backends by name; each need names the backends able to run it in its workflow ("a|b"), all of them when empty. */
function backends(names: string[]): BackendChoice {
  const able = (workflow: string | undefined) => (workflow ? workflow.split('|') : names);
  return { pick: (need) => able(need.workflow)[0], capable: (need) => able(need.workflow) };
}

/** A queue whose releases are recorded as "<id>@<backend>"; ids are "<key><n>". */
function queue(max: number, names: string[], weights: Record<string, number> = {}) {
  const released: string[] = [];
  const fair = new FairQueue({ maxPromptsPerBackend: max, weights }, backends(names));
  const hold = (key: string, id: string, workflow?: string) => fair.hold({ id, key, need: { graph: {}, workflow }, release: (backend) => released.push(`${id}@${backend}`) });
  return { fair, released, hold };
}

describe('fair share: the bridge queue (units)', () => {
  const open: FairQueue[] = [];
  afterEach(() => {
    for (const fair of open.splice(0)) fair.close();
  });
  const make = (...args: Parameters<typeof queue>) => {
    const made = queue(...args);
    open.push(made.fair);
    return made;
  };

  it('goes straight to a backend with room while nobody waits, and holds once every backend is saturated', () => {
    const { fair } = make(2, ['x', 'y']);
    expect(fair.claim('a1', { graph: {} })).to.equal('x');
    expect(fair.claim('a2', { graph: {} })).to.equal('x');
    // x is saturated: the least loaded capable backend with room.
    expect(fair.claim('a3', { graph: {} })).to.equal('y');
    expect(fair.claim('a4', { graph: {} })).to.equal('y');
    expect(fair.claim('a5', { graph: {} })).to.equal(undefined);
    expect([fair.load('x'), fair.load('y')]).to.deep.equal([2, 2]);
  });

  it('releases round-robin across keys as slots free, a newcomer after at most one release of the flooding key', () => {
    const { fair, released, hold } = make(1, ['x']);
    fair.claim('a0', { graph: {} });
    for (let i = 1; i <= 4; i++) hold('a', `a${i}`);
    hold('b', 'b1');
    hold('b', 'b2');
    fair.pump();
    expect(released).to.deep.equal([]);
    let running = 'a0';
    for (let i = 0; i < 6; i++) {
      fair.free(running);
      running = released.at(-1)!.split('@')[0]!;
    }
    expect(released).to.deep.equal(['a1@x', 'b1@x', 'a2@x', 'b2@x', 'a3@x', 'a4@x']);
    expect(fair.heldCount).to.equal(0);
  });

  it('gives a weighted key that many releases in a row, and counts them in positions', () => {
    const { fair, released, hold } = make(1, ['x'], { heavy: 2 });
    fair.claim('h0', { graph: {} });
    for (let i = 1; i <= 4; i++) hold('heavy', `h${i}`);
    for (let i = 1; i <= 2; i++) hold('light', `l${i}`);
    // Releases before each, plus the one prompt on x.
    expect(['h1', 'h2', 'l1', 'h3', 'h4', 'l2'].map((id) => fair.position(id))).to.deep.equal([1, 2, 3, 4, 5, 6]);
    let running = 'h0';
    for (let i = 0; i < 6; i++) {
      fair.free(running);
      running = released.at(-1)!.split('@')[0]!;
    }
    expect(released.map((r) => r.split('@')[0])).to.deep.equal(['h1', 'h2', 'l1', 'h3', 'h4', 'l2']);
  });

  it('serves the next key whose generation a backend with room can run, without losing the skipped key its turn', () => {
    const { fair, released, hold } = make(1, ['x', 'y']);
    fair.claim('a0', { graph: {}, workflow: 'x' });
    fair.claim('b0', { graph: {}, workflow: 'y' });
    hold('a', 'a1', 'x');
    hold('b', 'b1', 'y');
    fair.free('b0');
    // Only y has room: b's generation goes, a stays first in line.
    expect(released).to.deep.equal(['b1@y']);
    hold('c', 'c1', 'x|y');
    fair.free('a0');
    expect(released).to.deep.equal(['b1@y', 'a1@x']);
  });

  it('forgets a held generation that ends before its release (interrupted), and never releases it', () => {
    const { fair, released, hold } = make(1, ['x']);
    fair.claim('a0', { graph: {} });
    hold('a', 'a1');
    hold('b', 'b1');
    expect(fair.position('b1')).to.equal(2);
    fair.free('a1');
    expect(fair.isHeld('a1')).to.equal(false);
    expect(fair.position('b1')).to.equal(1);
    fair.free('a0');
    expect(released).to.deep.equal(['b1@x']);
  });

  it("counts a backend's prompts as ComfyUI reports them when that is more than its own (another instance's prompts)", () => {
    const reported = new Map<string, number>([['x', 2]]);
    const fair = new FairQueue({ maxPromptsPerBackend: 2, weights: {} }, { ...backends(['x', 'y']), reported: (b) => reported.get(b) ?? null });
    open.push(fair);
    expect(fair.claim('a1', { graph: {} })).to.equal('y');
    expect(fair.claim('a2', { graph: {} })).to.equal('y');
    expect(fair.claim('a3', { graph: {} })).to.equal(undefined);
    const released: string[] = [];
    fair.hold({ id: 'a3', key: 'a', need: { graph: {} }, release: (backend) => released.push(backend) });
    // Behind the two on the least busy backend (y: ours; x: reported).
    expect(fair.position('a3')).to.equal(2);
    reported.set('x', 1);
    fair.pump();
    expect(released).to.deep.equal(['x']);
  });

  it('holds nothing new while closed', () => {
    const { fair, released, hold } = make(1, ['x']);
    fair.claim('a0', { graph: {} });
    hold('a', 'a1');
    fair.close();
    fair.free('a0');
    expect(released).to.deep.equal([]);
  });
});

describe('fair share: the machine of a held generation', () => {
  const NOW = '2026-12-01T12:00:00.000Z';
  const context: StepContext = { now: NOW, policy: { onLost: 'resubmit', maxAttempts: 2 }, resultUrl: (gen, file) => `/results/${gen.id}/${file}` };
  const held = (): Life => {
    const gen: Generation = generationRecord({ id: 'gen_held', createdAt: NOW, backend: null, position: 4, attempts: 1 });
    return { gen, phase: 'held', interruptRequested: false, frameKey: clientFrames(gen, '', context.resultUrl).key };
  };

  it('writes the backend and the placed graph before it submits, once released', () => {
    const graph = { '1': { class_type: 'LoadImage', inputs: { image: 'placed.png' } } };
    const { life, effects } = apply(held(), { type: 'released', backend: 'one', graph }, context);
    expect(life.phase).to.equal('submitting');
    expect(life.gen).to.include({ backend: 'one', position: null, state: 'queued' });
    expect(life.gen.graph).to.deep.equal(graph);
    expect(effects).to.deep.equal([{ type: 'persist', graph: true }, { type: 'submit' }]);
    // A second release (it cannot happen, but) changes nothing.
    expect(apply(life, { type: 'released', backend: 'two', graph }, context).effects).to.deep.equal([]);
  });

  it('ends interrupted at once when interrupted while held: nothing to cancel on a backend', () => {
    const { life, effects } = apply(held(), { type: 'interrupt' }, context);
    expect(life.gen).to.include({ state: 'interrupted', error: 'interrupted on request', finishedAt: NOW });
    expect(effects.map((e) => e.type)).to.deep.equal(['persist', 'settle']);
  });
});
