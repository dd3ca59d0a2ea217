import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ANONYMOUS } from '../contracts/auth.js';
import type { Generation } from '../contracts/generation.js';
import { clientTopic, type ClientFrame } from '../contracts/client-frame.js';
import type { GenerationService } from '../plugins/generations/api.js';
import type { Graph } from '../contracts/graph.js';
import type { Storage } from '../contracts/storage.js';
import { BridgeError } from '../core/errors.js';
import { definePlugin, type PluginManifest } from '../core/plugin.js';
import { startBridge, type RunningBridge } from './helpers/bridge.js';
import { GRAPH, probePlugin, StubTransport, stubTransportPlugin, until, type Probe } from './generations-stub-transport.js';
import { makePng } from './upload-images.js';

const request = (graph: Graph = GRAPH) => ({ workflow: 'tiny', clientId: 'client-1', principal: ANONYMOUS, graph, uploads: {} });

describe('generations service (stub transport)', () => {
  let stub: StubTransport;
  let bridge: RunningBridge | undefined;
  let probe: Probe;
  let service: GenerationService;
  let storage: Storage;
  /** The frames client-1's topic carried, as ws would deliver them. */
  let changes: { id: string; seq: number; status: string; details: string; state: string; percent: number; ends: boolean }[];

  async function start(options: Record<string, unknown> = {}, config: Record<string, unknown> = {}): Promise<void> {
    probe = {};
    bridge = await startBridge({
      plugins: { 'storage-nedb': { inMemory: true }, bus: {}, generations: options, results: {} },
      extraPlugins: [stubTransportPlugin(stub), probePlugin(probe)],
      config,
    });
    service = probe.generations!;
    storage = probe.storage!;
    changes = [];
    probe.bus!.subscribe<ClientFrame>(clientTopic('client-1'), ({ seq, payload }) =>
      changes.push({
        id: payload.generationId,
        seq,
        status: payload.status,
        details: payload.details,
        state: String(payload.data.state),
        percent: Number(payload.data.percent),
        ends: payload.ends,
      }),
    );
  }

  const emitRun = (promptId: string): void => {
    const base = { promptId, backend: 'stub' };
    stub.emit({ type: 'started', ...base });
    stub.emit({ type: 'cached', ...base, nodes: [] });
    stub.emit({ type: 'executing', ...base, node: '1' });
    stub.emit({ type: 'executing', ...base, node: '2' });
    stub.emit({ type: 'progress', ...base, node: '2', value: 1, max: 4 });
    stub.emit({ type: 'progress', ...base, node: '2', value: 2, max: 4 });
    const outputs = [{ node: '2', kind: 'images', filename: 'x_00001_.png', subfolder: '', type: 'output' }];
    stub.emit({ type: 'executed', ...base, node: '2', outputs });
    stub.emit({ type: 'completed', ...base, outputs });
  };

  beforeEach(() => {
    stub = new StubTransport();
    stub.files.set('x_00001_.png', makePng(4, 3));
  });
  afterEach(async () => {
    await bridge?.close();
    bridge = undefined;
  });

  it('records a generation before submitting it, with the nodes that will run', async () => {
    await start();
    let storedAtSubmit: Generation | undefined;
    const submit = stub.submit.bind(stub);
    stub.submit = async (req, listener) => {
      storedAtSubmit = await storage.generations.getByPromptId!(req.promptId);
      return submit(req, listener);
    };
    stub.position = 3;
    const gen = await service.create(request());
    expect(gen.id).to.match(/^gen_[A-Za-z0-9_-]{24}$/);
    expect(storedAtSubmit?.state).to.equal('queued');
    expect(storedAtSubmit?.attempts).to.equal(1);
    expect(gen.totalNodes).to.equal(2);
    expect(gen.position).to.equal(3);
    expect(gen.backend).to.equal('stub');
    expect(stub.last.promptId).to.equal(gen.promptId).and.to.match(/^[0-9a-f-]{36}$/);
    // The position is written behind the answer (no promise hangs on it), within progressPersistMs.
    await until(async () => (await storage.generations.get(gen.id))?.position === 3, 'the position stored');
    expect(service.activeCount('client-1')).to.equal(1);
    expect(service.frame(gen)).to.deep.include({ status: 'progress', details: '0.00%' });
  });

  it('answers once ComfyUI took the prompt and the row is stored, not after the `submitted` step (its cancel of an interrupt asked meanwhile)', async () => {
    await start();
    // An interrupt asked while the prompt is being submitted: the `submitted` step cancels it on ComfyUI.
    let interrupted: Promise<unknown> | undefined;
    service.hooks.created.tap('test', (gen) => void (interrupted = service.interrupt(gen.id)));
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const submit = stub.submit.bind(stub);
    stub.submit = async (req, listener) => {
      const run = await submit(req, listener);
      // A backend slow to answer the cancel.
      return { ...run, cancel: async () => (await gate, run.cancel()) };
    };
    stub.position = 2;
    // Before, the answer waited for that step, and so for ComfyUI's answer to the cancel.
    const gen = await service.create(request());
    expect(gen).to.include({ state: 'queued', position: 2 });
    expect(stub.cancels).to.deep.equal([]);
    open();
    await interrupted;
    await until(() => stub.cancels.length > 0, 'the cancel at ComfyUI');
    expect(stub.cancels).to.deep.equal([gen.promptId]);
  });

  it('cancels the prompt and refuses the request when the row reached the file but its sync failed', async () => {
    await start();
    // A store that puts the row in its file (inFile), then refuses it, as a failing fdatasync makes nedb do.
    const refusal = new BridgeError(503, 'storage_unavailable', 'the data store could not write');
    let release!: () => void;
    const syncing = new Promise<void>((resolve) => (release = resolve));
    storage.generations.insert = async (_gen, inFile) => {
      inFile?.();
      await syncing;
      throw refusal;
    };
    const submit = stub.submit.bind(stub);
    stub.submit = async (req, listener) => {
      const run = await submit(req, listener);
      release();
      return run;
    };
    const error = await service.create(request()).catch((e: unknown) => e);
    expect(error).to.equal(refusal);
    // Submitted while the sync ran, then cancelled on the backend.
    expect(stub.submits).to.have.length(1);
    expect(stub.cancels).to.deep.equal([stub.last.promptId]);
    const last = changes.at(-1)!;
    expect(last).to.include({ state: 'failed', ends: true });
    expect(service.activeCount('client-1')).to.equal(0);
  });

  it('stores `running` when ComfyUI starts the prompt before the row is synced (the write waits for the insert)', async () => {
    await start();
    // A slow disk: the row is in the file at once, its insert resolves only when the gate opens.
    const insert = storage.generations.insert.bind(storage.generations);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    storage.generations.insert = async (gen, inFile) => {
      inFile?.();
      await gate;
      return insert(gen);
    };
    const creating = service.create(request());
    await until(() => stub.submits.length === 1, 'the prompt to be submitted');
    stub.emit({ type: 'started', promptId: stub.last.promptId, backend: 'stub' });
    // One turn of the event loop: every promise job the event started has run, the insert still waits.
    await new Promise((resolve) => setImmediate(resolve));
    open();
    const gen = await creating;
    await until(() => changes.some((c) => c.id === gen.id && c.state === 'running'), 'the running frame');
    await until(async () => (await storage.generations.get(gen.id))?.state === 'running', 'running stored');
  });

  it('follows a run to completion: percent never goes down, ends at 100, results copied before completed', async () => {
    await start();
    const gen = await service.create(request());
    emitRun(gen.promptId);
    const done = await service.waitForEnd(gen.id, 3000);
    // created, started (running), node 2 (1 of 2 done), steps 1/4 and 2/4, node 2 done, completed. What a
    // client would see twice (the accepted position, the first node, a cached event with no nodes) is no frame,
    // and the 100.00% is not forced again when it was already shown.
    const announced = changes.filter((c) => c.id === gen.id).map((c) => `${c.status}:${c.details}:${c.state}`);
    expect(announced).to.deep.equal([
      'progress:0.00%:queued',
      'progress:0.00%:running',
      'progress:50.00%:running',
      'progress:62.50%:running',
      'progress:75.00%:running',
      'progress:100.00%:running',
      'closed:Execution is done:completed',
    ]);
    expect(changes.map((c) => c.seq)).to.deep.equal(changes.map((_c, i) => i + 1)); // numbered by the bus
    expect(done?.state).to.equal('completed');
    expect(done?.percent).to.equal(100);
    const percents = changes.filter((c) => c.id === gen.id).map((c) => c.percent);
    for (let i = 1; i < percents.length; i++) expect(percents[i]).to.be.at.least(percents[i - 1]!);
    expect(percents).to.include(50); // node 1 done of 2
    expect(percents).to.include(62.5); // node 2 at step 1/4
    const finished = changes.filter((c) => c.ends);
    expect(finished).to.have.length(1);
    const stored = await storage.generations.get(gen.id);
    expect(stored?.state).to.equal('completed');
    expect(stored?.results).to.have.length(1);
    const [file] = stored!.results;
    expect(file).to.include({ filename: 'x_00001_.png', contentType: 'image/png', node: '2', kind: 'images' });
    const bytes = await readFile(probe.results!.path(stored!.id, file!.filename));
    expect(bytes.equals(stub.files.get('x_00001_.png')!)).to.equal(true);
    expect(service.activeCount('client-1')).to.equal(0);
    const frame = service.frame(stored!);
    expect(frame.status).to.equal('closed');
    expect(frame.details).to.equal('Execution is done');
    expect(frame.data.result_urls).to.deep.equal([`${bridge!.url}/results/${gen.id}/x_00001_.png`]);
    expect(probe.results!.url(stored!.id, 'a b.png')).to.equal(`${bridge!.url}/results/${gen.id}/a%20b.png`);
  });

  it("counts the client's live generations in every frame (active), as generations of the client start and end", async () => {
    await start();
    const actives: string[] = [];
    probe.bus!.subscribe<ClientFrame>(clientTopic('client-1'), ({ payload }) => actives.push(`${payload.generationId}:${payload.details}:${String(payload.data.state)}:${payload.active}`));
    // Each event once the one before is shown: a progress of a running generation then takes the hot path (Runner.#progressNow).
    const shown = (gen: { id: string }, what: string) => until(() => actives.some((line) => line.startsWith(`${gen.id}:${what}:`)), `${what} of ${gen.id}`);
    const started = async (gen: { id: string; promptId: string }) => {
      stub.emit({ type: 'started', promptId: gen.promptId, backend: 'stub' });
      await shown(gen, '0.00%:running');
    };
    const step = async (gen: { id: string; promptId: string }, value: number, details: string) => {
      stub.emit({ type: 'progress', promptId: gen.promptId, backend: 'stub', node: '2', value, max: 4 });
      await shown(gen, details);
    };
    const a = await service.create(request());
    const b = await service.create(request());
    await started(a);
    await started(b);
    await step(a, 1, '12.50%');
    await step(b, 1, '12.50%');
    emitRun(a.promptId);
    await service.waitForEnd(a.id, 3000);
    await step(b, 2, '25.00%');
    emitRun(b.promptId);
    await service.waitForEnd(b.id, 3000);
    // The client's set of live generations is dropped once empty: a later generation of the client counts in a new one.
    const c = await service.create(request());
    await started(c);
    await step(c, 1, '12.50%');
    const of = (gen: { id: string }, what: string) => actives.find((line) => line.startsWith(`${gen.id}:${what}:`));
    expect(of(a, '12.50%')).to.equal(`${a.id}:12.50%:running:2`);
    expect(of(b, '12.50%')).to.equal(`${b.id}:12.50%:running:2`);
    expect(of(a, 'Execution is done')).to.equal(`${a.id}:Execution is done:completed:1`);
    expect(of(b, '25.00%')).to.equal(`${b.id}:25.00%:running:1`);
    expect(of(b, 'Execution is done')).to.equal(`${b.id}:Execution is done:completed:0`);
    expect(of(c, '12.50%')).to.equal(`${c.id}:12.50%:running:1`);
  });

  it('builds result URLs on server.publicUrl when one is configured', async () => {
    await start({}, { server: { publicUrl: 'https://images.example.com/bridge/' } });
    const gen = await service.create(request());
    expect(probe.results!.url(gen.id, 'x #1.png')).to.equal(`https://images.example.com/bridge/results/${gen.id}/x%20%231.png`);
  });

  it('writes running behind its frame, and the final state to disk before the frame that ends it', async () => {
    await start();
    await bridge!.close();
    // A file store this time: the promise is about the datafile, not memory.
    bridge = await startBridge({ plugins: { 'storage-nedb': {}, bus: {}, generations: {}, results: {} }, extraPlugins: [stubTransportPlugin(stub), probePlugin(probe)] });
    service = probe.generations!;
    const datafile = join(bridge.dataDir, 'db', 'generations.db');
    /** The states the datafile holds for `id`, in the order they were written (read synchronously). */
    const written = (id: string): string[] =>
      readFileSync(datafile, 'utf8')
        .split('\n')
        .filter((line) => line.includes(`"_id":"${id}"`))
        .map((line) => (JSON.parse(line) as { state?: string }).state ?? '?');
    const gen = await service.create(request());
    expect(written(gen.id)[0]).to.equal('queued');
    const onDiskAtClose: string[][] = [];
    probe.bus!.subscribe<ClientFrame>(clientTopic('client-1'), ({ payload }) => {
      if (payload.ends) onDiskAtClose.push(written(payload.generationId));
    });
    stub.emit({ type: 'started', promptId: gen.promptId, backend: 'stub' });
    await until(() => written(gen.id).includes('running'), 'running written to the datafile');
    expect((await service.get(gen.id))?.startedAt).to.be.a('string');
    stub.emit({ type: 'completed', promptId: gen.promptId, backend: 'stub', outputs: [] });
    await until(() => onDiskAtClose.length > 0, 'the closed frame');
    // The final state was on disk when the client was told, after running (one row writer, in order).
    expect(onDiskAtClose[0]!.at(-1)).to.equal('completed');
    expect(onDiskAtClose[0]!.indexOf('running')).to.be.greaterThan(0).and.lessThan(onDiskAtClose[0]!.length - 1);
  });

  it('fails a generation whose node raised, naming the node and the exception', async () => {
    await start();
    const failures: string[] = [];
    service.hooks.settled.tap('test', (ended) => void failures.push(`${ended.state}: ${ended.error}`));
    const gen = await service.create(request());
    stub.emit({ type: 'executing', promptId: gen.promptId, backend: 'stub', node: '1' });
    stub.emit({ type: 'failed', promptId: gen.promptId, backend: 'stub', node: '2', nodeType: 'SaveImage', exceptionType: 'RuntimeError', message: 'disk full' });
    const end = await service.waitForEnd(gen.id, 2000);
    expect(end?.state).to.equal('failed');
    expect(end?.error).to.equal('node 2 (SaveImage) raised RuntimeError: disk full');
    expect(failures).to.deep.equal(['failed: node 2 (SaveImage) raised RuntimeError: disk full']);
    const frame = service.frame(end!);
    expect(frame.status).to.equal('error');
    expect(frame.details).to.equal('node 2 (SaveImage) raised RuntimeError: disk full');
    expect(frame.data.error_message).to.equal(frame.details);
  });

  it('records a graph ComfyUI rejected as failed and answers 400 with its node errors', async () => {
    await start();
    stub.submitError = new BridgeError(400, 'graph_rejected', 'ComfyUI rejected the graph: node 2 (SaveImage): images is missing', {
      extra: { node_errors: { '2': { errors: [] } } },
    });
    const error = (await service.create(request()).catch((e: unknown) => e)) as BridgeError;
    // Plugins load through import(), the test through tsx's require: compare by shape, not by class.
    expect(error.name).to.equal('BridgeError');
    expect(error.status).to.equal(400);
    expect(error.detail).to.contain('node 2 (SaveImage)');
    expect(error.extra.node_errors).to.deep.equal({ '2': { errors: [] } });
    const counts = await storage.generations.counts();
    expect(counts.total).to.equal(1);
    expect(counts.byState.failed).to.equal(1);
    const stored = await storage.generations.get(error.extra.id as string);
    expect(stored?.error).to.contain('images is missing');
    expect(service.activeCount('client-1')).to.equal(0);
  });

  it('answers 503 with Retry-After and records nothing when no backend is up', async () => {
    await start();
    stub.up = false;
    const error = (await service.create(request()).catch((e: unknown) => e)) as BridgeError;
    expect(error.status).to.equal(503);
    expect(error.code).to.equal('backend_unavailable');
    expect(error.headers['Retry-After']).to.match(/^\d+$/);
    expect((await storage.generations.counts()).total).to.equal(0);
    expect(stub.submits).to.have.length(0);
  });

  it('fails a generation whose backend cannot be reached at submission, and answers 503', async () => {
    await start();
    stub.submitError = new BridgeError(503, 'backend_unavailable', 'ComfyUI backend stub cannot be reached', { headers: { 'Retry-After': '7' } });
    const error = (await service.create(request()).catch((e: unknown) => e)) as BridgeError;
    expect(error.status).to.equal(503);
    expect(error.headers['Retry-After']).to.equal('7');
    const stored = await storage.generations.get(error.extra.id as string);
    expect(stored?.state).to.equal('failed');
    expect(stored?.error).to.contain('could not be reached');
  });

  it('interrupts a queued generation at once when it was removed from the queue', async () => {
    await start();
    stub.cancelOutcome = 'removed';
    const gen = await service.create(request());
    const listener = stub.runs.get(gen.promptId)!;
    const after = await service.interrupt(gen.id);
    expect(stub.cancels).to.deep.equal([gen.promptId]);
    expect(after.state).to.equal('interrupted');
    expect((await storage.generations.get(gen.id))?.state).to.equal('interrupted');
    // A late event for the same prompt (straight to its listener: the stub ended the run) changes nothing. This
    // wait proves that nothing happens, so there is no condition to wait on instead.
    listener({ type: 'interrupted', promptId: gen.promptId, backend: 'stub', node: null });
    await new Promise((r) => setTimeout(r, 20));
    expect(changes.filter((c) => c.ends)).to.have.length(1);
    expect(changes.filter((c) => c.id === gen.id).map((c) => c.status)).to.deep.equal(['progress', 'error', 'closed']);
  });

  it('interrupts a running generation when ComfyUI reports it stopped; a finished one is returned as is', async () => {
    await start();
    stub.cancelOutcome = 'interrupted';
    const gen = await service.create(request());
    stub.emit({ type: 'started', promptId: gen.promptId, backend: 'stub' });
    const asked = await service.interrupt(gen.id);
    expect(asked.state).to.equal('running');
    stub.emit({ type: 'interrupted', promptId: gen.promptId, backend: 'stub', node: '1' });
    const end = await service.waitForEnd(gen.id, 2000);
    expect(end?.state).to.equal('interrupted');
    expect(end?.error).to.equal('interrupted on request');
    const again = await service.interrupt(gen.id);
    expect(again.state).to.equal('interrupted');
    expect(stub.cancels).to.have.length(1);
    const unknown = (await service.interrupt('gen_doesnotexist0000000000').catch((e: unknown) => e)) as BridgeError;
    expect(unknown.status).to.equal(404);
  });

  it('answers 503 when the cancel cannot reach the backend, and the refused request changes nothing', async () => {
    await start();
    const gen = await service.create(request());
    stub.emit({ type: 'started', promptId: gen.promptId, backend: 'stub' });
    stub.cancelError = new BridgeError(503, 'backend_unavailable', 'ComfyUI backend stub cannot be reached', { headers: { 'Retry-After': '5' } });
    const error = (await service.interrupt(gen.id).catch((e: unknown) => e)) as BridgeError;
    expect(error.status).to.equal(503);
    expect((await service.get(gen.id))?.state).to.equal('running');
    // Stopped later by someone else on the backend: not "on request".
    stub.emit({ type: 'interrupted', promptId: gen.promptId, backend: 'stub', node: '1' });
    const end = await service.waitForEnd(gen.id, 2000);
    expect(end?.error).to.equal('interrupted on ComfyUI backend stub');
  });

  it('resubmits a lost generation once with a new prompt id, then fails it when lost again', async () => {
    await start();
    const gen = await service.create(request());
    stub.emit({ type: 'started', promptId: gen.promptId, backend: 'stub' });
    stub.emit({ type: 'executing', promptId: gen.promptId, backend: 'stub', node: '1' });
    stub.emit({ type: 'executing', promptId: gen.promptId, backend: 'stub', node: '2' });
    await until(async () => (await service.get(gen.id))!.percent === 50, 'percent 50');
    stub.emit({ type: 'lost', promptId: gen.promptId, backend: 'stub', reason: 'ComfyUI backend stub restarted' });
    await until(() => stub.submits.length === 2, 'a resubmission');
    const second = stub.last.promptId;
    expect(second).to.not.equal(gen.promptId);
    const resubmitted = await until(async () => {
      const g = await service.get(gen.id);
      return g?.promptId === second ? g : undefined;
    }, 'the new prompt id');
    expect(resubmitted.attempts).to.equal(2);
    expect(resubmitted.state).to.equal('queued');
    expect(resubmitted.percent).to.equal(50); // never goes backwards
    // Events of the old prompt are stale now.
    stub.emit({ type: 'completed', promptId: gen.promptId, backend: 'stub', outputs: [] });
    stub.emit({ type: 'lost', promptId: second, backend: 'stub', reason: 'ComfyUI backend stub restarted again' });
    const end = await service.waitForEnd(gen.id, 2000);
    expect(end?.state).to.equal('failed');
    expect(end?.error).to.contain('restarted again').and.to.contain('2 time');
    expect((await storage.generations.get(gen.id))?.promptId).to.equal(second);
  });

  it("fails a lost generation at once with onLost 'fail'", async () => {
    await start({ onLost: 'fail' });
    const gen = await service.create(request());
    stub.emit({ type: 'lost', promptId: gen.promptId, backend: 'stub', reason: 'ComfyUI backend stub has been unreachable for more than 120 s' });
    const end = await service.waitForEnd(gen.id, 2000);
    expect(end?.state).to.equal('failed');
    expect(end?.error).to.contain('unreachable');
    expect(stub.submits).to.have.length(1);
  });

  it('fails a generation whose results cannot be copied', async () => {
    await start();
    const gen = await service.create(request());
    stub.emit({
      type: 'completed',
      promptId: gen.promptId,
      backend: 'stub',
      outputs: [{ node: '2', kind: 'images', filename: 'missing.png', subfolder: '', type: 'output' }],
    });
    const end = await service.waitForEnd(gen.id, 2000);
    expect(end?.state).to.equal('failed');
    expect(end?.error).to.contain('could not be copied').and.to.contain('missing.png');
    expect(end?.results).to.deep.equal([]);
  });

  it('hands stuckAfterMs to the transport with each run, and fails a generation the transport calls stuck', async () => {
    await start({ stuckAfterMs: 150 });
    const gen = await service.create(request());
    expect(stub.last.stuckAfterMs).to.equal(150);
    stub.emit({ type: 'started', promptId: gen.promptId, backend: 'stub' });
    stub.emit({ type: 'stuck', promptId: gen.promptId, backend: 'stub', reason: 'no news from ComfyUI backend stub for 150 ms' });
    const end = await service.waitForEnd(gen.id, 3000);
    expect(end?.state).to.equal('failed');
    expect(end?.error).to.match(/no news from ComfyUI backend stub/);
    expect((await storage.generations.get(gen.id))?.state).to.equal('failed');
  });

  it('refuses upload inputs without an upload service or naming no node, recording nothing', async () => {
    await start();
    const graph: Graph = { ...GRAPH, '5': { class_type: 'LoadImage', inputs: { image: 'placeholder.png' } } };
    const error = (await service.create({ ...request(graph), uploads: { '5/image': 'cb_abc.png' } }).catch((e: unknown) => e)) as BridgeError;
    expect(error.status).to.equal(400);
    expect(error.detail).to.contain('uploads are not enabled');
    const bad = (await service.create({ ...request(graph), uploads: { '77/image': 'cb_abc.png' } }).catch((e: unknown) => e)) as BridgeError;
    expect(bad.status).to.equal(400);
    expect(bad.detail).to.contain('77/image');
    expect((await storage.generations.counts()).total).to.equal(0);
    expect(stub.submits).to.have.length(0);
  });

  it('puts the uploads a generation uses on its backend, marks them used, and again on a resubmission', async () => {
    const used: string[] = [];
    const uploadsPlugin = definePlugin({
      name: 'stub-uploads',
      provides: ['uploads'],
      register(ctx) {
        ctx.provide('uploads', {
          find: async () => undefined,
          pathOf: (name) => `/srv/uploads/${name}`,
          markUsed: async (name, genId) => void used.push(`${name}@${genId}`),
        });
      },
    }) as PluginManifest<never>;
    probe = {};
    bridge = await startBridge({
      plugins: { 'storage-nedb': { inMemory: true }, bus: {}, generations: {}, results: {} },
      extraPlugins: [stubTransportPlugin(stub), uploadsPlugin, probePlugin(probe)],
    });
    service = probe.generations!;
    const graph: Graph = {
      ...GRAPH,
      '5': { class_type: 'LoadImage', inputs: { image: 'placeholder.png' } },
      '6': { class_type: 'LoadImage', inputs: { image: 'placeholder.png' } },
    };
    const gen = await service.create({ ...request(graph), uploads: { '5/image': 'cb_abc.png', '6/image': 'cb_abc.png' } });
    expect(stub.uploads).to.deep.equal([{ backend: 'stub', path: '/srv/uploads/cb_abc.png', name: 'cb_abc.png', contentType: 'image/png' }]);
    expect(stub.last.graph['5']!.inputs.image).to.equal('remote-cb_abc.png');
    expect(stub.last.graph['6']!.inputs.image).to.equal('remote-cb_abc.png');
    expect(graph['5']!.inputs.image).to.equal('placeholder.png');
    expect(gen.uploads).to.deep.equal(['cb_abc.png']);
    await until(() => used.length > 0, 'markUsed');
    expect(used).to.deep.equal([`cb_abc.png@${gen.id}`]);
    stub.emit({ type: 'lost', promptId: gen.promptId, backend: 'stub', reason: 'gone' });
    await until(() => stub.submits.length === 2, 'the resubmission');
    expect(stub.uploads).to.have.length(2);
    expect(stub.last.graph['5']!.inputs.image).to.equal('remote-cb_abc.png');
  });

  it('lets beforeSubmit rewrite the graph and gives created / settled the generation', async () => {
    probe = {};
    bridge = await startBridge({
      plugins: { 'storage-nedb': { inMemory: true }, bus: {}, generations: {}, results: {} },
      extraPlugins: [stubTransportPlugin(stub), probePlugin(probe)],
    });
    service = probe.generations!;
    const seen: string[] = [];
    service.hooks.beforeSubmit.tap('test', (graph, info) => {
      seen.push(`before:${info.workflow}:${info.backend}`);
      return { ...graph, '2': { ...graph['2']!, inputs: { ...graph['2']!.inputs, filename_prefix: 'rewritten' } } };
    });
    service.hooks.created.tap('test', (gen) => void seen.push(`created:${gen.state}:${gen.graph['2']!.inputs.filename_prefix}`));
    service.hooks.settled.tap('test', (gen) => void seen.push(`settled:${gen.state}:${gen.results.length}`));
    const gen = await service.create(request());
    expect(stub.last.graph['2']!.inputs.filename_prefix).to.equal('rewritten');
    expect(GRAPH['2']!.inputs.filename_prefix).to.equal('x'); // the caller's graph is untouched
    emitRun(gen.promptId);
    await service.waitForEnd(gen.id, 2000);
    await until(() => seen.length === 3, 'three hook calls');
    expect(seen).to.deep.equal(['before:tiny:stub', 'created:queued:rewritten', 'settled:completed:1']);
    expect(join(bridge.dataDir, 'results', gen.id, 'x_00001_.png')).to.equal(probe.results!.path(gen.id, 'x_00001_.png'));
    expect(() => probe.results!.path(gen.id, '../x.png')).to.throw();
    expect(() => probe.results!.path('../etc', 'x.png')).to.throw();
  });
});
