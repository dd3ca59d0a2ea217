import { expect } from 'chai';
import { GenerationIndex, type GenerationSummary } from '../plugins/storage-nedb/generation-index.js';
import { compareKeys, SortedList } from '../plugins/storage-nedb/sorted-list.js';

/** Summaries as a datafile may hold them: not in creation order (a repaired or compacted file, clocks set back). */
function shuffledSummaries(): GenerationSummary[] {
  const rows: GenerationSummary[] = [];
  for (let i = 0; i < 60; i++) {
    const createdAt = new Date(Date.UTC(2026, 11, 1, 0, 0, i)).toISOString();
    rows.push({ id: `gen_${String(i).padStart(3, '0')}`, createdAt, promptId: `p${i}`, clientId: `client-${i % 3}`, owner: i % 2 ? 'key-a' : null, workflow: i % 4 ? 'w1' : 'w2', state: i % 5 ? 'completed' : 'failed' });
  }
  // A fixed permutation (no randomness: a failure must reproduce): odd positions reversed, then the even ones.
  return [...rows.filter((_, i) => i % 2).reverse(), ...rows.filter((_, i) => i % 2 === 0)];
}

describe('storage-nedb: the generation index loads rows in any order', () => {
  it('serves every filtered list newest first after a load from unsorted rows', () => {
    const rows = shuffledSummaries();
    const index = new GenerationIndex();
    index.load(rows);
    const newestFirst = [...rows].sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
    const expectPage = (query: Parameters<GenerationIndex['page']>[0], keep: (s: GenerationSummary) => boolean) => {
      const matching = newestFirst.filter(keep);
      expect(index.page(query)).to.deep.equal({ ids: matching.slice(query.offset, query.offset + query.limit).map((s) => s.id), total: matching.length });
    };
    expectPage({ limit: 10, offset: 0 }, () => true);
    expectPage({ limit: 7, offset: 3, clientId: 'client-1' }, (s) => s.clientId === 'client-1');
    expectPage({ limit: 50, offset: 0, owner: 'key-a' }, (s) => s.owner === 'key-a');
    expectPage({ limit: 5, offset: 2, workflow: 'w2' }, (s) => s.workflow === 'w2');
    expectPage({ limit: 20, offset: 0, state: 'failed', clientId: 'client-0' }, (s) => s.state === 'failed' && s.clientId === 'client-0');
    expect(index.latest('clientId', 'client-2')?.id).to.equal(newestFirst.find((s) => s.clientId === 'client-2')!.id);
    expect(index.inState('failed').map((s) => s.id)).to.deep.equal(newestFirst.filter((s) => s.state === 'failed').map((s) => s.id));
  });

  it('keeps a loaded list in order when rows are added and removed afterwards', () => {
    const index = new GenerationIndex();
    index.load(shuffledSummaries());
    const late: GenerationSummary = { id: 'gen_late', createdAt: '2026-12-01T00:00:30.500Z', promptId: 'px', clientId: 'client-1', owner: null, workflow: 'w1', state: 'completed' };
    index.add(late);
    const page = index.page({ limit: 100, offset: 0, clientId: 'client-1' }).ids;
    expect(page.indexOf('gen_late')).to.equal(page.indexOf('gen_031') + 1);
    index.remove('gen_late');
    expect(index.page({ limit: 100, offset: 0, clientId: 'client-1' }).ids).not.to.include('gen_late');
  });

  it('groups by client after a load, adds, removes and a client change, whether looked up before them or not', () => {
    for (const lookFirst of [true, false]) {
      const index = new GenerationIndex();
      index.load(shuffledSummaries());
      if (lookFirst) expect(index.latest('clientId', 'client-0')?.id).to.equal('gen_057');
      const late: GenerationSummary = { id: 'gen_late', createdAt: '2026-12-01T00:02:00.000Z', promptId: 'px', clientId: 'client-new', owner: null, workflow: 'w1', state: 'queued' };
      index.add(late);
      index.remove('gen_057');
      index.replace({ ...(index.get('gen_054') as GenerationSummary), clientId: 'client-new' });
      expect(index.latest('clientId', 'client-new')?.id).to.equal('gen_late');
      expect(index.page({ limit: 10, offset: 0, clientId: 'client-new' })).to.deep.equal({ ids: ['gen_late', 'gen_054'], total: 2 });
      expect(index.latest('clientId', 'client-0')?.id).to.equal('gen_051');
      expect(index.page({ limit: 100, offset: 0, clientId: 'client-0' }).total).to.equal(18);
      // A second load drops what the first grouped.
      index.load(shuffledSummaries().slice(0, 3));
      expect(index.latest('clientId', 'client-new')).to.equal(undefined);
    }
  });

  it('finds a generation by prompt id after a load, an add and a remove, whether looked up before them or not', () => {
    for (const lookFirst of [true, false]) {
      const index = new GenerationIndex();
      index.load(shuffledSummaries());
      if (lookFirst) expect(index.byPrompt('p7')?.id).to.equal('gen_007');
      const late: GenerationSummary = { id: 'gen_late', createdAt: '2026-12-01T00:02:00.000Z', promptId: 'px', clientId: 'client-1', owner: null, workflow: 'w1', state: 'queued' };
      index.add(late);
      index.remove('gen_007');
      expect(index.byPrompt('px')?.id).to.equal('gen_late');
      expect(index.byPrompt('p7')).to.equal(undefined);
      expect(index.byPrompt('p8')?.id).to.equal('gen_008');
      index.replace({ ...late, promptId: 'py' });
      expect(index.byPrompt('px')).to.equal(undefined);
      expect(index.byPrompt('py')?.id).to.equal('gen_late');
    }
  });

  it('sorts a load by the text of createdAt then the id, also when the timestamps as times would order otherwise or do not parse', () => {
    const key = (id: string, createdAt: string) => ({ id, createdAt });
    const cases = [
      // ISO text in id order, shuffled in time (a compacted datafile): the sort by time numbers serves
      shuffledSummaries().map((s) => key(s.id, s.createdAt)),
      // offsets: as times 01:00+02:00 is before 00:30Z; as text (the order the lists keep) it is after
      [key('a', '2026-12-01T01:00:00+02:00'), key('b', '2026-12-01T00:30:00Z'), key('c', '2026-12-01T00:10:00Z')],
      // text that is no time, and equal times told apart by id
      [key('b', 'not a time'), key('a', '2026-12-01T00:00:00.000Z'), key('d', 'x'), key('c', '2026-12-01T00:00:00.000Z'), key('a2', '2026-12-01T00:00:00.000Z')],
    ];
    for (const items of cases) {
      const expected = [...items].sort(compareKeys);
      expect(SortedList.sortedCopy(items)).to.deep.equal(expected);
      expect(SortedList.sortedCopy(expected)).to.deep.equal(expected);
    }
  });
});

describe('storage-nedb: the generation index re-files a changed generation', () => {
  /** Every list the index serves, as ids newest first. */
  const lists = (index: GenerationIndex) => ({
    all: index.page({ limit: 100, offset: 0 }),
    byClient: ['client-0', 'client-1', 'client-2', 'client-9'].map((clientId) => index.page({ limit: 100, offset: 0, clientId })),
    byOwner: ['key-a', 'key-b'].map((owner) => index.page({ limit: 100, offset: 0, owner })),
    byWorkflow: ['w1', 'w2', 'w3'].map((workflow) => index.page({ limit: 100, offset: 0, workflow })),
    byState: (['queued', 'running', 'completed', 'failed'] as const).map((state) => index.inState(state).map((s) => s.id)),
    // Pages of two filters read the fields of the entries of one list: stale entries would show there.
    byStateAndMore: (['running', 'completed', 'failed'] as const).flatMap((state) => [
      index.page({ limit: 100, offset: 0, state, workflow: 'w1' }),
      index.page({ limit: 100, offset: 0, state, clientId: 'client-0' }),
      index.page({ limit: 100, offset: 0, state, owner: 'key-a' }),
    ]),
    latest: index.latest('clientId', 'client-9')?.id,
    byPrompt: ['p3', 'p4', 'p-new'].map((p) => index.byPrompt(p)?.id),
  });

  it('serves the same lists as an index loaded from the changed rows, whatever fields changed', () => {
    for (const lookFirst of [true, false]) {
      const rows = shuffledSummaries();
      const index = new GenerationIndex();
      index.load(rows);
      if (lookFirst) expect(index.latest('clientId', 'client-0')?.id).to.equal('gen_057');
      if (lookFirst) expect(index.byPrompt('p3')?.id).to.equal('gen_003');
      const changed = new Map(rows.map((s) => [s.id, s]));
      const change = (id: string, fields: Partial<GenerationSummary>) => {
        const next = { ...changed.get(id)!, ...fields };
        changed.set(id, next);
        index.replace(next);
      };
      for (const [i, id] of ['gen_003', 'gen_010', 'gen_059', 'gen_000'].entries()) {
        change(id, { state: 'queued' });
        change(id, { state: 'running' });
        change(id, { state: i % 2 ? 'failed' : 'completed' });
      }
      change('gen_004', { clientId: 'client-9', owner: 'key-b', promptId: 'p-new' }); // keys that change lists
      change('gen_005', { owner: null, workflow: 'w3' });
      change('gen_006', { createdAt: '2026-12-02T00:00:00.000Z', state: 'running' }); // its place changes
      change('gen_007', { state: 'completed' }); // nothing it is filed by changed but the state it already had
      const fresh = new GenerationIndex();
      fresh.load([...changed.values()]);
      expect(lists(index)).to.deep.equal(lists(fresh));
      expect(index.size).to.equal(fresh.size);
    }
  });
});
