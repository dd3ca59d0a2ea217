import { expect } from 'chai';
import Datastore from 'nedb-promises';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FINAL_STATES, GENERATION_STATES, type Generation, type GenerationState } from '../contracts/generation.js';
import type { HistoryQuery } from '../contracts/storage.js';
import { toDoc } from '../plugins/storage-nedb/generation-store.js';
import { datafilePath, NedbStorage } from '../plugins/storage-nedb/nedb-storage.js';
import { datafileText } from './helpers/datafile.js';
import { generationRecord } from './helpers/generation.js';

type Doc = Record<string, unknown>;

const GRAPH = { '1': { class_type: 'EmptyImage', inputs: { width: 8 } }, '2': { class_type: 'SaveImage', inputs: { images: ['1', 0] } } };
const OWNERS = [null, 'key-a', 'key-b'] as const;
const WORKFLOWS = ['text-to-image', 'image-to-image', 'upscale'] as const;

/** Generation `i`: ids not in creation order, some createdAt shared (ties order by id), every state, owner and workflow. */
function generation(i: number): Generation {
  const state = GENERATION_STATES[i % GENERATION_STATES.length] as GenerationState;
  const createdAt = new Date(Date.UTC(2026, 11, 1) + ((i * 37) % 101) * 1000).toISOString();
  return generationRecord({
    id: `gen_${((i * 7919) % 1000).toString(36).padStart(4, '0')}_${i}`,
    createdAt,
    clientId: `client-${i % 13}`,
    owner: OWNERS[i % 3] ?? null,
    workflow: WORKFLOWS[i % 4 === 0 ? 2 : i % 2] as string,
    state,
    promptId: `prompt-${i}`,
    graph: GRAPH,
    doneNodes: state === 'completed' ? ['1', '2'] : [],
    results: state === 'completed' ? [{ filename: `out_${i}.png`, contentType: 'image/png', size: 10 + i, node: '2', kind: 'images' }] : [],
    error: state === 'failed' ? `error "${i}" é😀` : null,
  });
}

/**
 * A generations datafile as deployments hold them: a compacted part in _id order (current rows, and final rows of
 * earlier versions still carrying their graph), the nedb index on promptId earlier versions declared, the pruned
 * counts, then appended changes (updated rows, rows finishing and dropping their graph, removed rows with their
 * state, new rows out of id order) and a last line torn by a crash.
 */
function datafileLines(): { lines: string[]; torn: string } {
  const gens = Array.from({ length: 240 }, (_, i) => generation(i));
  const compacted = gens.slice(0, 200).sort((a, b) => (a.id < b.id ? -1 : 1));
  const lines = compacted.map((gen, i) => JSON.stringify(i % 4 === 0 ? { ...toDoc(gen), graph: JSON.stringify(gen.graph) } : toDoc(gen)));
  lines.push('{"$$indexCreated":{"fieldName":"promptId","unique":false,"sparse":false}}');
  lines.push(JSON.stringify({ $$pruned: { queued: 0, running: 0, completed: 5, failed: 2, interrupted: 0 } }));
  for (const gen of compacted.filter((g) => !FINAL_STATES.has(g.state)).slice(0, 30)) {
    lines.push(JSON.stringify(toDoc({ ...gen, state: 'running', percent: 50, updatedAt: '2026-12-02T00:00:00.000Z' })));
  }
  for (const gen of compacted.filter((g) => g.state === 'queued').slice(0, 10)) {
    lines.push(JSON.stringify(toDoc({ ...gen, state: 'completed', percent: 100, owner: 'key-c', workflow: 'late' })));
  }
  for (const gen of compacted.filter((g) => FINAL_STATES.has(g.state)).slice(0, 12)) {
    lines.push(JSON.stringify({ $$deleted: true, _id: gen.id, state: gen.state }));
  }
  for (const gen of gens.slice(200)) lines.push(JSON.stringify(toDoc(gen)));
  return { lines, torn: JSON.stringify(toDoc(generation(999))).slice(0, 80) };
}

/** The distinct values of a field over the rows (nulls left out), sorted. */
const valuesOf = (rows: Doc[], key: string): string[] => [...new Set(rows.map((row) => row[key] as string | null))].filter((v): v is string => v !== null).sort();

/** History queries over every client, owner, workflow and state held, with offsets, limits and combined filters. */
function queriesFor(rows: Doc[]): HistoryQuery[] {
  const queries: HistoryQuery[] = [{ limit: 100, offset: 0 }, { limit: 7, offset: 3 }, { limit: 10, offset: 1000 }];
  for (const clientId of valuesOf(rows, 'clientId')) queries.push({ limit: 5, offset: 1, clientId });
  for (const owner of [...valuesOf(rows, 'owner'), 'nobody']) queries.push({ limit: 100, offset: 0, owner });
  for (const workflow of valuesOf(rows, 'workflow')) queries.push({ limit: 20, offset: 2, workflow });
  for (const state of GENERATION_STATES) {
    queries.push({ limit: 100, offset: 0, state });
    queries.push({ limit: 3, offset: 1, state, owner: 'key-a', workflow: 'text-to-image' });
  }
  return queries;
}

/** Every read a bridge makes of the generations: each row, each query, each prompt id and client, the counts. */
async function answers(storage: NedbStorage, rows: Doc[]): Promise<unknown> {
  const store = storage.generations;
  return {
    size: store.size,
    counts: await store.counts(),
    rows: await Promise.all([...rows.map((row) => row._id as string), 'gen_missing'].map((id) => store.get(id))),
    pages: await Promise.all(queriesFor(rows).map((query) => store.page(query))),
    byPrompt: await Promise.all(valuesOf(rows, 'promptId').map(async (promptId) => (await store.getByPromptId(promptId))?.id)),
    latest: await Promise.all(valuesOf(rows, 'clientId').map(async (clientId) => (await store.latestForClient(clientId))?.id)),
    unfinished: (await store.unfinished()).map((gen) => gen.id),
  };
}

/** The same reads answered from nedb's own rows by brute force: filters, then newest first by createdAt and id. */
function expectedAnswers(rows: Doc[], pruned: Record<GenerationState, number>): unknown {
  const gens = rows.map((row) => {
    const { _id, graph, ...rest } = row;
    const final = FINAL_STATES.has(row.state as GenerationState);
    return { id: _id, ...rest, graph: graph === undefined || final ? {} : JSON.parse(graph as string) } as Generation;
  });
  const newest = [...gens].sort((a, b) => (a.createdAt === b.createdAt ? (a.id < b.id ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1));
  const page = (query: HistoryQuery) => {
    const matching = newest.filter((gen) => (['clientId', 'owner', 'workflow', 'state'] as const).every((key) => query[key] === undefined || gen[key] === query[key]));
    return { items: matching.slice(query.offset, query.offset + query.limit), total: matching.length };
  };
  const byState = Object.fromEntries(GENERATION_STATES.map((state) => [state, gens.filter((gen) => gen.state === state).length + pruned[state]]));
  const inState = (state: GenerationState) => page({ limit: 1000, offset: 0, state }).items.map((gen) => gen.id);
  return {
    size: rows.length,
    counts: { total: Object.values(byState).reduce((a, b) => a + b, 0), byState },
    rows: [...gens, undefined],
    pages: queriesFor(rows).map(page),
    byPrompt: valuesOf(rows, 'promptId').map((promptId) => newest.find((gen) => gen.promptId === promptId)?.id),
    latest: valuesOf(rows, 'clientId').map((clientId) => newest.find((gen) => gen.clientId === clientId)?.id),
    unfinished: [...inState('queued'), ...inState('running')],
  };
}

describe('storage-nedb: a cold start of a varied datafile', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nedb-cold-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('answers every read as nedb’s own load of the same file implies, leaves the file as it was, and compacts to those rows', async () => {
    const { lines, torn } = datafileLines();
    const file = datafilePath(dir, 'generations');
    await mkdir(join(dir, 'db'));
    await writeFile(file, `${lines.join('\n')}\n${torn}`);
    // The reference: nedb's own loader on a copy (it skips the torn line as corrupt, the bridge cuts it at start).
    await copyFile(file, join(dir, 'reference.db'));
    const reference = Datastore.create({ filename: join(dir, 'reference.db') });
    await reference.load();
    const rows = ((await reference.find({})) as Doc[]).sort((a, b) => ((a._id as string) < (b._id as string) ? -1 : 1));
    expect(rows.length).to.be.greaterThan(200);
    expect(rows.filter((row) => row.graph !== undefined && FINAL_STATES.has(row.state as GenerationState))).to.have.length.greaterThan(20); // legacy rows
    const pruned = { queued: 0, running: 0, completed: 5, failed: 2, interrupted: 0 };
    for (const line of lines) {
      const doc = JSON.parse(line) as Doc;
      if (doc.$$deleted === true) pruned[doc.state as GenerationState]++;
    }
    const expected = expectedAnswers(rows, pruned);

    const log = { warn: () => undefined, info: () => undefined };
    for (const start of ['first start', 'after a compaction']) {
      const storage = await NedbStorage.open({ dataDir: dir, inMemory: false, log });
      try {
        expect(await answers(storage, rows), start).to.deep.equal(expected);
        if (start === 'first start') {
          await storage.close();
          // The load wrote nothing but the removal of the promptId index nedb kept for earlier versions; the torn line is cut.
          expect(await datafileText(file)).to.equal(`${lines.join('\n')}\n{"$$indexRemoved":"promptId"}\n`);
          const again = await NedbStorage.open({ dataDir: dir, inMemory: false, log });
          expect(await again.compact()).to.include('generations');
          await again.close();
          // One line per row in _id order, as nedb holds them (final rows without their graph), then the pruned counts.
          const compacted = rows.map((row) => JSON.stringify(FINAL_STATES.has(row.state as GenerationState) ? { ...row, graph: undefined } : row));
          expect(await datafileText(file)).to.equal(`${[...compacted, JSON.stringify({ $$pruned: pruned })].join('\n')}\n`);
        }
      } finally {
        await storage.close();
      }
    }
  });
});
