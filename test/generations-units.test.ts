import { expect } from 'chai';
import { contentTypeFor } from '../plugins/results/content-types.js';
import { origin } from '../plugins/results/index.js';
import { KNOWN_OUTPUT_CLASSES, nodesToRun, outputClasses } from '../plugins/generations/nodes-to-run.js';
import { clientFrames, computePercent, copyGeneration, newGeneration, progressPatch } from '../plugins/generations/generation.js';
import { PacedWrites } from '../plugins/generations/paced-writes.js';
import { safeFileName, uniqueName } from '../plugins/results/store.js';
import { noneMatch, parseRange } from '../plugins/results/conditional.js';
import type { Graph } from '../contracts/graph.js';
import { GENERATION_ID, newGenerationId } from '../plugins/generations/ids.js';

describe('generations: small pieces', () => {
  it('mints generation ids that are well-formed and distinct across refills of their random pool', () => {
    const ids = Array.from({ length: 300 }, () => newGenerationId());
    for (const id of ids) expect(id).to.match(GENERATION_ID).and.have.length(28);
    expect(new Set(ids).size).to.equal(ids.length);
  });

  it('makes output names safe: last segment, no control characters, no leading dots', () => {
    expect(safeFileName('ComfyUI_00001_.png')).to.equal('ComfyUI_00001_.png');
    expect(safeFileName('../../etc/passwd')).to.equal('passwd');
    expect(safeFileName('..\\..\\win.ini')).to.equal('win.ini');
    expect(safeFileName('..')).to.equal('output');
    expect(safeFileName('/abs/.hidden')).to.equal('hidden');
    expect(safeFileName('a\u0000b\nc.png')).to.equal('abc.png');
    expect(safeFileName('näme with spaces?.webp')).to.equal('n_me_with_spaces_.webp');
    expect(safeFileName('')).to.equal('output');
    const long = safeFileName(`${'x'.repeat(300)}.png`);
    expect(long).to.have.length(120);
    expect(long.endsWith('.png')).to.equal(true);
  });

  it('keeps names unique within a generation, ignoring case', () => {
    const taken = new Set<string>();
    expect(uniqueName('a.png', taken)).to.equal('a.png');
    expect(uniqueName('A.png', taken)).to.equal('A_2.png');
    expect(uniqueName('a.png', taken)).to.equal('a_3.png');
    expect(uniqueName('noext', taken)).to.equal('noext');
    expect(uniqueName('noext', taken)).to.equal('noext_2');
  });

  it('counts only the nodes some output depends on', async () => {
    const graph: Graph = {
      '1': { class_type: 'CheckpointLoaderSimple', inputs: {} },
      '2': { class_type: 'CLIPTextEncode', inputs: { clip: ['1', 1] } },
      '3': { class_type: 'KSampler', inputs: { model: ['1', 0], positive: ['2', 0] } },
      '4': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['1', 2] } },
      '5': { class_type: 'SaveImage', inputs: { images: ['4', 0] } },
      '6': { class_type: 'CLIPTextEncode', inputs: { clip: ['1', 1] } },
      '7': { class_type: 'MyCustomSaver', inputs: { images: ['99', 0] } },
    };
    expect([...nodesToRun(graph, new Set(['SaveImage']))].sort()).to.deep.equal(['1', '2', '3', '4', '5']);
    expect([...nodesToRun(graph, new Set(['SaveImage', 'MyCustomSaver']))].sort()).to.deep.equal(['1', '2', '3', '4', '5', '7']);
    expect(nodesToRun(graph, new Set()).size).to.equal(7);
    const asked: string[] = [];
    // The transport answers undefined for a class it could not ask about in time (or a failure):
    // the known output classes decide then.
    const outputs = await outputClasses(['SaveImage', 'MyCustomSaver', 'KSampler', 'Slow', 'MyCustomSaver'], async (c) => {
      asked.push(c);
      if (c === 'Slow') throw new Error('timed out');
      return c === 'MyCustomSaver' ? { output_node: true } : c === 'KSampler' ? { output_node: false } : undefined;
    });
    expect([...outputs].sort()).to.deep.equal(['MyCustomSaver', 'SaveImage']);
    expect(KNOWN_OUTPUT_CLASSES.has('SaveImage')).to.equal(true);
    expect(asked.filter((c) => c === 'MyCustomSaver')).to.have.length(1); // asked once per class
  });

  it('computes percent from nodes done and the current node steps, rounded down', () => {
    const base = { doneNodes: [] as string[], totalNodes: 3, node: null, step: null, maxSteps: null };
    expect(computePercent(base)).to.equal(0);
    expect(computePercent({ ...base, doneNodes: ['1'] })).to.equal(33.33);
    expect(computePercent({ ...base, doneNodes: ['1'], node: '2', step: 1, maxSteps: 2 })).to.equal(50);
    expect(computePercent({ ...base, doneNodes: ['1', '2', '3', '4'] })).to.equal(100);
    expect(computePercent({ ...base, doneNodes: ['1', '2'], node: '3', step: 99, maxSteps: 100 })).to.equal(99.66);
    expect(computePercent({ ...base, totalNodes: 0 })).to.equal(0);
  });

  it('parses single byte ranges and refuses what lies past the end', () => {
    expect(parseRange(undefined, 10)).to.deep.equal({ kind: 'full' });
    expect(parseRange('bytes=0-4', 10)).to.deep.equal({ kind: 'partial', start: 0, end: 4 });
    expect(parseRange('bytes=5-', 10)).to.deep.equal({ kind: 'partial', start: 5, end: 9 });
    expect(parseRange('bytes=-3', 10)).to.deep.equal({ kind: 'partial', start: 7, end: 9 });
    expect(parseRange('bytes=-30', 10)).to.deep.equal({ kind: 'partial', start: 0, end: 9 });
    expect(parseRange('bytes=2-100', 10)).to.deep.equal({ kind: 'partial', start: 2, end: 9 });
    expect(parseRange('bytes=10-', 10)).to.deep.equal({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=-0', 10)).to.deep.equal({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=5-2', 10)).to.deep.equal({ kind: 'full' });
    expect(parseRange('items=0-1', 10)).to.deep.equal({ kind: 'full' });
    expect(parseRange('bytes=0-1,3-4', 10)).to.deep.equal({ kind: 'full' });
    expect(noneMatch('W/"abc", "def"', '"abc"')).to.equal(true);
    expect(noneMatch('*', '"abc"')).to.equal(true);
    expect(noneMatch('"abcd"', '"abc"')).to.equal(false);
  });

  it('serves declared types unless generic or active, and a usable origin', () => {
    expect(contentTypeFor('a.png', 'image/png')).to.equal('image/png');
    expect(contentTypeFor('a.webp', 'application/octet-stream')).to.equal('image/webp');
    expect(contentTypeFor('a.html', 'text/html')).to.equal('application/octet-stream');
    expect(contentTypeFor('a.mp4', null)).to.equal('video/mp4');
    expect(contentTypeFor('a.weird', '')).to.equal('application/octet-stream');
    expect(origin('127.0.0.1', 8288)).to.equal('http://127.0.0.1:8288');
    expect(origin('0.0.0.0', 80)).to.equal('http://127.0.0.1:80');
    expect(origin('::1', 9)).to.equal('http://[::1]:9');
  });

  it('copies a generation exactly as a spread does: the same fields and values, a new object, extra or missing fields kept as they are', () => {
    const gen = newGeneration({ id: 'g1', promptId: 'p1', clientId: 'c1', owner: null, workflow: 'w', backend: 'b', graph: {}, uploadInputs: { '3/image': 'a.png' }, shippedInputs: {}, totalNodes: 2, now: '2026-12-02T00:00:00.000Z' });
    const copy = copyGeneration(gen);
    expect(copy).to.not.equal(gen);
    expect(copy).to.deep.equal({ ...gen });
    expect(Object.keys(copy).sort()).to.deep.equal(Object.keys(gen).sort());
    // A row read back without the optional inputs, or with a field this version does not know: copied whole.
    const { uploadInputs: _u, shippedInputs: _s, ...stored } = gen;
    expect(Object.keys(copyGeneration(stored)).sort()).to.deep.equal(Object.keys(stored).sort());
    const extra = { ...gen, futureField: 1 };
    expect(copyGeneration(extra)).to.deep.equal(extra);
  });

  it('keys a progress frame by the details it shows, also when a hundredth\'s text is made again for another number', () => {
    const base = newGeneration({ id: 'g1', promptId: 'p1', clientId: 'c1', owner: null, workflow: 'w', backend: 'b', graph: {}, uploadInputs: {}, shippedInputs: {}, totalNodes: 2, now: '2026-12-02T00:00:00.000Z' });
    const at = (percent: number, state: 'queued' | 'running' = 'running') => ({ ...base, state, percent });
    const url = () => '';
    const first = clientFrames(at(8.07), '', url);
    expect(first.frames.map((f) => f.details)).to.deep.equal(['8.07%']);
    expect(first.key).to.equal('progress|8.07%|running');
    expect(clientFrames(at(8.07), first.key, url).frames, 'the same details: no frame').to.deep.equal([]);
    // 8.065 rounds to the same hundredth as 8.07 (the slot its text is kept in), yet shows 8.06%: a new key, a frame.
    const second = clientFrames(at(8.065), first.key, url);
    expect(second.frames.map((f) => f.details)).to.deep.equal(['8.06%']);
    expect(second.key).to.equal('progress|8.06%|running');
    expect(clientFrames(at(8.07), second.key, url).key).to.equal('progress|8.07%|running');
    expect(clientFrames(at(8.07, 'queued'), first.key, url).key).to.equal('progress|8.07%|queued');
    expect(clientFrames(at(-1), '', url).key).to.equal('progress|-1.00%|running');
  });

  it('writes only the progress fields when nothing else changed since the row was stored, and every changing field otherwise', () => {
    const stored = { ...newGeneration({ id: 'g1', promptId: 'p1', clientId: 'c1', owner: null, workflow: 'w', backend: 'b', graph: {}, uploadInputs: {}, shippedInputs: {}, totalNodes: 2, now: '2026-12-02T00:00:00.000Z' }), state: 'running' as const, startedAt: '2026-12-02T00:00:01.000Z' };
    const moved = { ...stored, percent: 25, node: '1', step: 1, maxSteps: 2, doneNodes: ['0'], position: 0, updatedAt: '2026-12-02T00:00:02.000Z' };
    expect(progressPatch(stored, moved)).to.deep.equal({ position: 0, percent: 25, node: '1', step: 1, maxSteps: 2, doneNodes: ['0'], updatedAt: '2026-12-02T00:00:02.000Z' });
    const others = { state: 'completed', promptId: 'p2', backend: 'b2', startedAt: null, finishedAt: 'x', totalNodes: 3, results: [], error: 'e', shippedInputs: {}, attempts: 2 };
    for (const [key, value] of Object.entries(others)) {
      expect(progressPatch(stored, { ...moved, [key]: value }), key).to.equal(undefined);
    }
    expect(progressPatch(undefined, moved), 'nothing known stored').to.equal(undefined);
    expect(progressPatch({ ...stored, id: 'other' }, moved)).to.equal(undefined);
  });

  it('paces due writes: at most perTurn started per turn of the event loop, in the order they came due, none dropped', async () => {
    const started: number[] = [];
    const paced = new PacedWrites<number>((n) => started.push(n), 50);
    for (let i = 0; i < 120; i++) paced.add(i);
    expect(started).to.have.length(0);
    const counts: number[] = [];
    for (let turn = 0; turn < 4; turn++) {
      await new Promise((resolve) => setImmediate(resolve));
      counts.push(started.length);
    }
    expect(counts).to.deep.equal([50, 100, 120, 120]);
    expect(started).to.deep.equal(Array.from({ length: 120 }, (_, i) => i));
    paced.add(120);
    await new Promise((resolve) => setImmediate(resolve));
    expect(started.at(-1)).to.equal(120);
  });
});
