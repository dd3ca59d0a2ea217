import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { pino } from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import type { Graph } from '../contracts/graph.js';
import type { PromptRun, RunRequest, TransportEvent } from '../contracts/transport.js';
import { BridgeError } from '../core/errors.js';
import { ComfyTransport } from '../plugins/comfyui/comfy-transport.js';
import { resolveOptions } from '../plugins/comfyui/options.js';
import type { ComfyuiOptions } from '../plugins/comfyui/options.js';
import { startFakeComfy } from './fake-comfyui/index.js';
import { until } from './helpers/until.js';

type Fake = Awaited<ReturnType<typeof startFakeComfy>>;

const quiet = pino({ level: 'silent' });

/** EmptyImage → SaveImage, the graph of the success capture. */
function tinyGraph(prefix = 'tiny', color = 16711680): Graph {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 48, batch_size: 1, color } },
    '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: prefix } },
  };
}

/** EmptyImage → TestSleep → SaveImage: long enough to interrupt, reports progress. */
function sleepyGraph(prefix: string, color: number): Graph {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color } },
    '2': { class_type: 'TestSleep', inputs: { value: ['1', 0], seconds: 0.3 } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: prefix } },
  };
}

async function waitUntil(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

interface Harness {
  transport: ComfyTransport;
  /** Submits and records the run's events (the run's listener is the harness). */
  submit(request: RunRequest & { graph: Graph }): Promise<PromptRun>;
  /** Resumes a prompt of an earlier run, recording its events. */
  resume(request: RunRequest): PromptRun;
  events: TransportEvent[];
  eventsOf(promptId: string): TransportEvent[];
  waitFor<T extends TransportEvent['type']>(
    promptId: string,
    type: T,
    timeoutMs?: number,
  ): Promise<Extract<TransportEvent, { type: T }>>;
  waitForEnd(promptId: string, timeoutMs?: number): Promise<TransportEvent>;
}

const ENDS = new Set(['completed', 'failed', 'interrupted', 'lost', 'stuck']);

describe('comfyui transport against the fake ComfyUI', function () {
  this.timeout(20_000);
  const cleanups: (() => Promise<void>)[] = [];

  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()?.();
  });

  async function fake(options: Parameters<typeof startFakeComfy>[0] = {}): Promise<Fake> {
    const started = await startFakeComfy(options);
    cleanups.push(() => started.stop());
    return started;
  }

  function open(urls: string[], overrides: Partial<ComfyuiOptions> = {}): Harness {
    const transport = new ComfyTransport(
      resolveOptions({
        backends: urls.map((url) => ({ url })),
        reconnect: { initialMs: 20, maxMs: 200, jitter: 0.1 },
        silentTimeoutMs: 3000,
        pingIntervalMs: 200,
        requestTimeoutMs: 3000,
        lostAfterMs: 10_000,
        pollIntervalMs: 10_000,
        ...overrides,
      }),
      `bridge-test-${randomUUID()}`,
      quiet,
    );
    const events: TransportEvent[] = [];
    const record = (event: TransportEvent) => void events.push(event);
    transport.start();
    cleanups.push(() => transport.close());
    const eventsOf = (promptId: string) => events.filter((e) => e.promptId === promptId);
    return {
      transport,
      submit: (request) => transport.submit(request, record),
      resume: (request) => transport.resume(request, record),
      events,
      eventsOf,
      async waitFor(promptId, type, timeoutMs = 5000) {
        let hit: TransportEvent | undefined;
        await waitUntil(
          () => (hit = events.find((e) => e.promptId === promptId && e.type === type)) !== undefined,
          `${type} of ${promptId}`,
          timeoutMs,
        );
        return hit as Extract<TransportEvent, { type: typeof type }>;
      },
      async waitForEnd(promptId, timeoutMs = 5000) {
        let hit: TransportEvent | undefined;
        await waitUntil(
          () => (hit = events.find((e) => e.promptId === promptId && ENDS.has(e.type))) !== undefined,
          `the end of ${promptId}`,
          timeoutMs,
        );
        return hit as TransportEvent;
      },
    };
  }

  async function upHarness(urls: string[], overrides: Partial<ComfyuiOptions> = {}): Promise<Harness> {
    const harness = open(urls, overrides);
    await waitUntil(() => harness.transport.backends().every((b) => b.up), 'backends up');
    return harness;
  }

  it('submits with its own clientId and a bridge prompt_id, then completes with the outputs from history', async () => {
    const comfy = await fake();
    const h = await upHarness([comfy.url]);
    const backend = h.transport.pickBackend();
    expect(backend).to.be.a('string');
    const promptId = randomUUID();
    const result = await h.submit({ promptId, graph: tinyGraph('success'), backend: backend! });
    expect(result.backend).to.equal(backend);
    expect(result.promptId).to.equal(promptId);
    expect(result.position).to.equal(0);

    const completed = await h.waitFor(promptId, 'completed');
    expect(completed.outputs).to.have.length(1);
    expect(completed.outputs[0]).to.include({ node: '2', kind: 'images', type: 'output', subfolder: '' });
    expect(completed.outputs[0]?.filename).to.match(/^success_\d{5}_\.png$/);
    const types = h.eventsOf(promptId).map((e) => e.type);
    expect(types).to.include.members(['started', 'cached', 'executing', 'executed', 'completed']);
    expect(types.indexOf('started')).to.be.lessThan(types.indexOf('completed'));
    expect(types.filter((t) => ENDS.has(t))).to.deep.equal(['completed']);
    expect(h.transport.isTracked(promptId)).to.equal(false);

    const sent = comfy.prompts.find((p) => p.promptId === promptId);
    expect(sent?.clientId).to.equal(h.transport.clientId);
  });

  it('reports a fully cached rerun as cached and still lists its outputs', async () => {
    const comfy = await fake();
    const h = await upHarness([comfy.url]);
    const backend = h.transport.pickBackend()!;
    const first = randomUUID();
    await h.submit({ promptId: first, graph: tinyGraph('cached'), backend });
    const firstDone = await h.waitFor(first, 'completed');
    const second = randomUUID();
    await h.submit({ promptId: second, graph: tinyGraph('cached'), backend });
    const done = await h.waitFor(second, 'completed');
    const cached = h.eventsOf(second).find((e) => e.type === 'cached');
    expect(cached && cached.type === 'cached' ? [...cached.nodes].sort() : []).to.deep.equal(['1', '2']);
    expect(h.eventsOf(second).some((e) => e.type === 'executing')).to.equal(false);
    expect(done.outputs.map((o) => o.filename)).to.deep.equal(firstDone.outputs.map((o) => o.filename));
  });

  it('ends a run its socket showed whole at execution_success, from its executed frames, without reading /history', async () => {
    const comfy = await fake();
    const h = await upHarness([comfy.url]);
    const promptId = randomUUID();
    await h.submit({ promptId, graph: tinyGraph('whole'), backend: h.transport.pickBackend()! });
    const done = await h.waitFor(promptId, 'completed');
    expect(done.outputs.map((o) => o.filename)).to.have.length(1);
    expect(done.outputs[0]).to.include({ node: '2', kind: 'images', type: 'output', subfolder: '' });
    expect(done.outputs[0]?.filename).to.match(/^whole_\d{5}_\.png$/);
    expect(comfy.historyReadsOf(promptId)).to.equal(0);
  });

  it('reads the history of a cached rerun once, when ComfyUI stored it (executing null), however late it is stored', async () => {
    // Real ComfyUI stores the history after execution_success (task_done); here 300 ms later.
    const comfy = await fake({ historyDelayMs: 300 });
    const h = await upHarness([comfy.url]);
    const backend = h.transport.pickBackend()!;
    const first = randomUUID();
    await h.submit({ promptId: first, graph: tinyGraph('late-history'), backend });
    const firstDone = await h.waitFor(first, 'completed');
    const second = randomUUID();
    await h.submit({ promptId: second, graph: tinyGraph('late-history'), backend });
    const done = await h.waitFor(second, 'completed', 5000);
    expect(h.eventsOf(second).some((e) => e.type === 'cached')).to.equal(true);
    expect(done.outputs.map((o) => o.filename)).to.deep.equal(firstDone.outputs.map((o) => o.filename));
    expect(comfy.historyReadsOf(second)).to.equal(1);
  });

  it('turns a validation failure into 400 graph_rejected naming node and input, with no events', async () => {
    const comfy = await fake();
    const h = await upHarness([comfy.url]);
    const promptId = randomUUID();
    const graph = tinyGraph();
    graph['1']!.inputs.width = 99999;
    let error: unknown;
    try {
      await h.submit({ promptId, graph, backend: h.transport.pickBackend()! });
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(BridgeError);
    const bridgeError = error as BridgeError;
    expect(bridgeError.status).to.equal(400);
    expect(bridgeError.code).to.equal('graph_rejected');
    expect(bridgeError.detail).to.contain('node 1 (EmptyImage) input "width"');
    expect(bridgeError.detail).to.contain('bigger than max');
    expect(bridgeError.extra.node_errors).to.have.property('1');
    expect(h.transport.isTracked(promptId)).to.equal(false);
    // A later prompt on the same socket marks the wait: its events come in order, so anything for the rejected
    // one would have come before its completion.
    const marker = randomUUID();
    await h.submit({ promptId: marker, graph: tinyGraph('after-reject'), backend: h.transport.pickBackend()! });
    await h.waitFor(marker, 'completed');
    expect(h.eventsOf(promptId)).to.deep.equal([]);
  });

  it('reports a runtime error with node, class and exception', async () => {
    const comfy = await fake();
    const h = await upHarness([comfy.url]);
    const promptId = randomUUID();
    await h.submit({ promptId, graph: tinyGraph('../escape'), backend: h.transport.pickBackend()! });
    const failed = await h.waitFor(promptId, 'failed');
    expect(failed.node).to.equal('2');
    expect(failed.nodeType).to.equal('SaveImage');
    expect(failed.exceptionType).to.equal('Exception');
    expect(failed.message).to.contain('Saving image outside the output folder is not allowed');
    expect(h.eventsOf(promptId).filter((e) => ENDS.has(e.type))).to.have.length(1);
  });

  it('reports the always-failing node and failNextRun as failed', async () => {
    const comfy = await fake();
    const h = await upHarness([comfy.url]);
    const backend = h.transport.pickBackend()!;
    const failing = randomUUID();
    await h.submit({
      promptId: failing,
      graph: {
        '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 1 } },
        '2': { class_type: 'FailingNode', inputs: { message: 'kaput', value: ['1', 0] } },
        '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'never' } },
      },
      backend,
    });
    const failed = await h.waitFor(failing, 'failed');
    expect(failed).to.include({ node: '2', nodeType: 'FailingNode', exceptionType: 'RuntimeError', message: 'kaput' });

    comfy.failNextRun('boom from the fake');
    const next = randomUUID();
    await h.submit({ promptId: next, graph: tinyGraph('fail-next', 77), backend });
    const nextFailed = await h.waitFor(next, 'failed');
    expect(nextFailed.message).to.contain('boom from the fake');
  });

  it('cancels a queued prompt (removed, only that one) and the running one (targeted interrupt)', async () => {
    const comfy = await fake();
    comfy.setNodeDuration('TestSleep', 800);
    const h = await upHarness([comfy.url]);
    const backend = h.transport.pickBackend()!;
    const running = randomUUID();
    const queued = randomUUID();
    const last = randomUUID();
    const first = await h.submit({ promptId: running, graph: sleepyGraph('run', 1), backend });
    const second = await h.submit({ promptId: queued, graph: sleepyGraph('queued', 2), backend });
    expect(second.position).to.be.greaterThan(0);
    const third = await h.submit({ promptId: last, graph: tinyGraph('last', 3), backend });
    await h.waitFor(running, 'started');

    expect(await second.cancel()).to.equal('removed');
    const removed = await h.waitFor(queued, 'interrupted', 100);
    expect(removed.node).to.equal(null);
    // Ended exactly once: the removal is the transport's one end of the run.
    expect(h.eventsOf(queued).filter((e) => ENDS.has(e.type))).to.have.length(1);
    expect(h.eventsOf(running).some((e) => ENDS.has(e.type))).to.equal(false);

    expect(await first.cancel()).to.equal('interrupted');
    const interrupted = await h.waitFor(running, 'interrupted');
    expect(interrupted.node).to.be.a('string');
    // The other prompts were not touched: the last one still runs to completion.
    await h.waitFor(last, 'completed');
    expect(h.eventsOf(queued).filter((e) => e.type === 'started')).to.deep.equal([]);
    expect(await third.cancel()).to.equal('not_found');
    expect(h.eventsOf(last).filter((e) => ENDS.has(e.type)).map((e) => e.type)).to.deep.equal(['completed']);
    expect(h.eventsOf(queued).filter((e) => ENDS.has(e.type))).to.have.length(1);
  });

  it('never hangs when the backend restarts mid-run and forgets the prompt', async () => {
    const comfy = await fake();
    comfy.setNodeDuration('TestSleep', 3000);
    const h = await upHarness([comfy.url]);
    const backend = h.transport.pickBackend()!;
    const promptId = randomUUID();
    await h.submit({ promptId, graph: sleepyGraph('restart', 4), backend });
    await h.waitFor(promptId, 'started');
    await comfy.restart();
    const end = await h.waitForEnd(promptId, 8000);
    expect(['lost', 'failed']).to.include(end.type);
    if (end.type === 'lost') expect(end.reason).to.contain('no longer knows');
    await waitUntil(() => h.transport.backends()[0]!.up, 'backend up again');
  });

  it('reports lost when a backend stays down longer than lostAfterMs', async () => {
    const comfy = await fake();
    comfy.setNodeDuration('TestSleep', 3000);
    const h = await upHarness([comfy.url], { lostAfterMs: 300 });
    const backend = h.transport.pickBackend()!;
    const promptId = randomUUID();
    await h.submit({ promptId, graph: sleepyGraph('down', 5), backend });
    await h.waitFor(promptId, 'started');
    await comfy.stop();
    await waitUntil(() => !h.transport.backends()[0]!.up, 'backend seen down');
    expect(h.transport.pickBackend()).to.equal(undefined);
    const lost = await h.waitFor(promptId, 'lost', 3000);
    expect(lost.reason).to.contain('unreachable');
  });

  it('recovers a completion that happened while the socket was gone, from history', async () => {
    const comfy = await fake();
    comfy.setNodeDuration('TestSleep', 300);
    // A slow reconnect, so the prompt surely finishes while no socket listens.
    const h = await upHarness([comfy.url], { reconnect: { initialMs: 1200, maxMs: 1200, jitter: 0 } });
    const backend = h.transport.pickBackend()!;
    const promptId = randomUUID();
    await h.submit({ promptId, graph: sleepyGraph('dropped', 6), backend });
    await h.waitFor(promptId, 'started');
    comfy.dropSockets();
    await waitUntil(() => !h.transport.backends()[0]!.up, 'socket seen dropped');
    const done = await h.waitFor(promptId, 'completed', 6000);
    expect(done.outputs.map((o) => o.filename)).to.have.length(1);
    expect(done.outputs[0]?.filename).to.match(/^dropped_/);
    // No executed frame reached us: the outputs came from /history.
    expect(h.eventsOf(promptId).some((e) => e.type === 'executed')).to.equal(false);
  });

  it('detects a silent socket (no frame, no pong) and replaces it', async () => {
    // ws answers pings by itself; a peer that stopped answering needs autoPong off.
    const server = createServer();
    const wss = new WebSocketServer({ server, autoPong: false });
    const connections: WebSocket[] = [];
    wss.on('connection', (ws) => {
      connections.push(ws);
      ws.send(JSON.stringify({ type: 'status', data: { status: { exec_info: { queue_remaining: 0 } }, sid: 'x' } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const { port } = server.address() as AddressInfo;
    const h = open([`http://127.0.0.1:${port}`], { silentTimeoutMs: 200, pingIntervalMs: 50 });
    await waitUntil(() => connections.length >= 2, 'a second connection after the silence', 3000);
    expect(h.transport.backends()[0]!.lastError ?? '').to.contain('silent');
    expect(connections[0]!.readyState).to.not.equal(WebSocket.OPEN);
  });

  it('never ends a prompt ComfyUI reports running, however long it stays silent (a long video node); nor one waiting in the queue', async () => {
    const comfy = await fake();
    comfy.setNodeDuration('TestSleep', 2500);
    const h = await upHarness([comfy.url]);
    const backend = h.transport.pickBackend()!;
    const running = randomUUID();
    const waiting = randomUUID();
    await h.submit({ promptId: running, graph: sleepyGraph('silent-run', 30), backend, stuckAfterMs: 200 });
    await h.submit({ promptId: waiting, graph: sleepyGraph('silent-wait', 31), backend, stuckAfterMs: 200 });
    await h.waitFor(running, 'started');
    comfy.goSilent(true);
    // Silent for more than ten stuckAfterMs: the watchdog asks, /queue says running, it lets it run,
    // and the same watchdog finds its true end in /history once it finished.
    const end = await h.waitForEnd(running, 8000);
    expect(end.type).to.equal('completed');
    const second = await h.waitForEnd(waiting, 8000);
    expect(second.type).to.equal('completed');
    expect(h.events.some((e) => e.type === 'stuck')).to.equal(false);
    expect(comfy.prompts.map((p) => p.promptId)).to.deep.equal([running, waiting]);
  });

  it('finds a completion the socket never reported (fake goSilent) by polling history', async () => {
    const comfy = await fake();
    comfy.setNodeDuration('TestSleep', 200);
    const h = await upHarness([comfy.url], { pollIntervalMs: 300 });
    const promptId = randomUUID();
    await h.submit({ promptId, graph: sleepyGraph('quiet', 8), backend: h.transport.pickBackend()! });
    await h.waitFor(promptId, 'started');
    comfy.goSilent(true);
    const done = await h.waitFor(promptId, 'completed', 4000);
    expect(done.outputs[0]?.filename).to.match(/^quiet_/);
    expect(h.eventsOf(promptId).some((e) => e.type === 'executed')).to.equal(false);
    comfy.goSilent(false);
  });

  it('spreads prompts over two backends by queue length', async () => {
    const one = await fake();
    const two = await fake();
    one.setNodeDuration('TestSleep', 1000);
    two.setNodeDuration('TestSleep', 1000);
    const h = await upHarness([one.url, two.url]);
    const ids: string[] = [];
    for (let i = 0; i < 4; i += 1) {
      const promptId = randomUUID();
      ids.push(promptId);
      await h.submit({ promptId, graph: sleepyGraph(`spread${i}`, 10 + i), backend: h.transport.pickBackend()! });
    }
    expect(one.prompts.length).to.equal(2);
    expect(two.prompts.length).to.equal(2);
    const status = h.transport.backends();
    expect(status.map((b) => b.name)).to.have.length(2);
    expect(new Set(status.map((b) => b.name)).size).to.equal(2);
    expect([...one.prompts, ...two.prompts].map((p) => p.promptId).sort()).to.deep.equal([...ids].sort());
  });

  it('never picks a down backend', async () => {
    const up = await fake();
    const down = await fake();
    await down.stop();
    const h = open([down.url, up.url]);
    await waitUntil(() => h.transport.backends()[1]!.up, 'one backend up');
    for (let i = 0; i < 5; i += 1) expect(h.transport.pickBackend()).to.equal(h.transport.backends()[1]!.name);
    expect(h.transport.backends()[0]).to.include({ up: false });
  });

  it('streams an output file with its real PNG bytes', async () => {
    const comfy = await fake();
    const h = await upHarness([comfy.url]);
    const backend = h.transport.pickBackend()!;
    const promptId = randomUUID();
    await h.submit({ promptId, graph: tinyGraph('bytes', 123), backend });
    const done = await h.waitFor(promptId, 'completed');
    const file = await h.transport.fetchOutput(backend, done.outputs[0]!);
    const chunks: Buffer[] = [];
    for await (const chunk of file.stream) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    expect(bytes.subarray(0, 8).toString('hex')).to.equal('89504e470d0a1a0a');
    expect(file.contentType).to.equal('image/png');
    expect(file.length).to.equal(bytes.length);

    let missing: unknown;
    await h.transport.fetchOutput(backend, { ...done.outputs[0]!, filename: 'nope.png' }).catch((e: unknown) => (missing = e));
    expect((missing as BridgeError).status).to.equal(404);
  });

  it('uploads a file and returns the name ComfyUI answers', async () => {
    const comfy = await fake();
    const h = await upHarness([comfy.url]);
    const backend = h.transport.pickBackend()!;
    const dir = await mkdtemp(join(tmpdir(), 'comfyui-upload-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const source = await h.transport.fetchOutput(
      backend,
      await (async () => {
        const id = randomUUID();
        await h.submit({ promptId: id, graph: tinyGraph('upload-src', 5), backend });
        return (await h.waitFor(id, 'completed')).outputs[0]!;
      })(),
    );
    const chunks: Buffer[] = [];
    for await (const chunk of source.stream) chunks.push(chunk as Buffer);
    const png = Buffer.concat(chunks);
    const path = join(dir, 'any.png');
    await writeFile(path, png);

    const name = await h.transport.upload(backend, { path, name: 'cb_upload.png', contentType: 'image/png' });
    expect(name).to.equal('cb_upload.png');
    expect(comfy.uploads.get('cb_upload.png')?.equals(png)).to.equal(true);
    // Same name, same bytes: ComfyUI keeps the name; different bytes get a new one (overwrite=false).
    expect(await h.transport.upload(backend, { path, name: 'cb_upload.png', contentType: 'image/png' })).to.equal('cb_upload.png');
    await writeFile(path, Buffer.concat([png, Buffer.from('x')]));
    expect(await h.transport.upload(backend, { path, name: 'cb_upload.png', contentType: 'image/png' })).to.equal('cb_upload (1).png');

    // The uploaded name works in a graph.
    const id = randomUUID();
    await h.submit({
      promptId: id,
      graph: {
        '1': { class_type: 'LoadImage', inputs: { image: name } },
        '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
        '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'inverted' } },
      },
      backend,
    });
    await h.waitFor(id, 'completed');
  });

  it('looks prompts up, frees memory and reads object_info', async () => {
    const comfy = await fake();
    const h = await upHarness([comfy.url]);
    const backend = h.transport.pickBackend()!;
    const promptId = randomUUID();
    await h.submit({ promptId, graph: tinyGraph('lookup', 44), backend });
    const done = await h.waitFor(promptId, 'completed');
    const found = await h.transport.lookup(promptId, backend);
    expect(found).to.deep.equal({ state: 'completed', outputs: done.outputs });
    expect(await h.transport.lookup(randomUUID(), backend)).to.deep.equal({ state: 'unknown' });
    expect(await h.transport.lookup(promptId, 'no-such-backend')).to.deep.equal({ state: 'unknown' });

    expect(await h.transport.free()).to.deep.equal([{ name: backend, url: comfy.url, ok: true }]);

    const info = await h.transport.objectInfo('ImageInvert');
    expect(info).to.have.nested.property('input.required.image');
    expect(await h.transport.objectInfo('NoSuchNode')).to.equal(undefined);
  });

  it('resumes a prompt with resume() and settles from history', async () => {
    const comfy = await fake();
    const first = await upHarness([comfy.url]);
    const backend = first.transport.pickBackend()!;
    const promptId = randomUUID();
    await first.submit({ promptId, graph: tinyGraph('resume', 45), backend });
    // The first bridge goes away before the prompt ends; a second one resumes it.
    await first.transport.close();
    // The prompt ends at ComfyUI (it is in its history) while no bridge listens; the closed one heard nothing.
    const inHistory = async (): Promise<boolean> => Object.keys((await (await fetch(`${comfy.url}/history/${promptId}`)).json()) as object).length > 0;
    await until(inHistory, 'the prompt to end at ComfyUI', 5000);
    expect(first.eventsOf(promptId).some((e) => e.type === 'completed')).to.equal(false);

    const second = await upHarness([comfy.url]);
    second.resume({ promptId, backend: second.transport.backends()[0]!.name });
    const done = await second.waitFor(promptId, 'completed');
    expect(done.outputs[0]?.filename).to.match(/^resume_/);

    second.resume({ promptId: 'p-elsewhere', backend: 'gone-backend' });
    const lost = await second.waitFor('p-elsewhere', 'lost');
    expect(lost.reason).to.contain('no longer configured');
  });

  it('reports progress, and ignores binary frames safely', async () => {
    const comfy = await fake();
    comfy.setNodeDuration('TestSleep', 100);
    const h = await upHarness([comfy.url]);
    const backend = h.transport.pickBackend()!;
    const slept = randomUUID();
    await h.submit({ promptId: slept, graph: sleepyGraph('progress', 12), backend });
    await h.waitFor(slept, 'completed');
    const progress = h.eventsOf(slept).filter((e) => e.type === 'progress');
    expect(progress.length).to.be.greaterThan(0);
    expect(progress[0]).to.include({ node: '2' });

    // GetImageSize sends a binary TEXT frame to every socket.
    const sized = randomUUID();
    await h.submit({
      promptId: sized,
      graph: {
        '1': { class_type: 'EmptyImage', inputs: { width: 40, height: 30, batch_size: 2, color: 0 } },
        '2': { class_type: 'GetImageSize', inputs: { image: ['1', 0] } },
        '3': { class_type: 'EmptyImage', inputs: { width: ['2', 0], height: ['2', 1], batch_size: 1, color: 0 } },
        '4': { class_type: 'SaveImage', inputs: { images: ['3', 0], filename_prefix: 'sized' } },
      },
      backend,
    });
    const done = await h.waitFor(sized, 'completed');
    expect(done.outputs[0]?.filename).to.match(/^sized_/);
    expect(h.transport.backends()[0]!.up).to.equal(true);
  });

  it('uses the jobs routes when the backend has them, and falls back for cancel', async () => {
    const comfy = await fake({ hasJobsApi: true });
    comfy.setNodeDuration('TestSleep', 800);
    const h = await upHarness([comfy.url]);
    await waitUntil(() => h.transport.backends()[0]!.jobsApi, 'jobs api detected');
    const backend = h.transport.pickBackend()!;
    const done = randomUUID();
    await h.submit({ promptId: done, graph: tinyGraph('jobs', 21), backend });
    const completed = await h.waitFor(done, 'completed');
    expect(await h.transport.lookup(done, backend)).to.deep.equal({ state: 'completed', outputs: completed.outputs });
    expect(await h.transport.lookup(randomUUID(), backend)).to.deep.equal({ state: 'unknown' });

    const running = randomUUID();
    const run = await h.submit({ promptId: running, graph: sleepyGraph('jobs-run', 22), backend });
    await h.waitFor(running, 'started');
    expect(await h.transport.lookup(running, backend)).to.deep.equal({ state: 'running' });
    expect(await run.cancel()).to.equal('interrupted');
    await h.waitFor(running, 'interrupted');
    expect(await h.transport.lookup(running, backend)).to.deep.equal({ state: 'interrupted' });

    // After a restart the jobs route no longer knows it: lost, not a hang.
    const forgotten = randomUUID();
    await h.submit({ promptId: forgotten, graph: sleepyGraph('jobs-restart', 23), backend });
    await h.waitFor(forgotten, 'started');
    await comfy.restart();
    const lost = await h.waitFor(forgotten, 'lost', 5000);
    expect(lost.reason).to.contain('no longer knows');
  });

  /**
   * A scripted ComfyUI for moments the fake cannot stage: `route` answers each request (by method, url
   * and parsed JSON body); websocket clients are kept in `sockets`.
   */
  async function scriptedComfy(
    route: (req: IncomingMessage, res: ServerResponse, body: unknown, sockets: WebSocket[]) => void,
  ): Promise<{ url: string; sockets: WebSocket[] }> {
    const sockets: WebSocket[] = [];
    const open = new Set<ServerResponse>();
    const wss = new WebSocketServer({ noServer: true });
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        open.add(res);
        res.once('close', () => open.delete(res));
        const text = Buffer.concat(chunks).toString();
        route(req, res, text ? JSON.parse(text) : undefined, sockets);
      });
    });
    server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => void sockets.push(ws)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      for (const res of open) res.destroy();
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sockets };
  }

  const notFoundAnswer = (res: ServerResponse): void => {
    res.statusCode = 404;
    res.end('404: Not Found');
  };

  it('keeps a prompt whose POST /prompt timed out when the backend has it anyway, and fails one it has not', async () => {
    // A busy ComfyUI can take a prompt and answer too late: POST /prompt is never answered here.
    const queued = new Set<string>();
    const { url } = await scriptedComfy((req, res, body) => {
      if (req.method === 'POST' && req.url === '/prompt') {
        const { prompt_id: id, prompt } = body as { prompt_id: string; prompt: Record<string, unknown> };
        if (!('lost' in prompt)) queued.add(id);
      } else if (req.url === '/queue') {
        res.end(JSON.stringify({ queue_running: [], queue_pending: [...queued].map((id, i) => [i, id, {}, {}, []]) }));
      } else if (req.url?.startsWith('/history/')) {
        res.end('{}');
      } else notFoundAnswer(res);
    });
    const h = await upHarness([url], { requestTimeoutMs: 200 });
    const backend = h.transport.pickBackend()!;

    const kept = randomUUID();
    const result = await h.submit({ promptId: kept, graph: tinyGraph('late-answer'), backend });
    expect(result.backend).to.equal(backend);
    expect(h.transport.isTracked(kept)).to.equal(true);

    const dropped = randomUUID();
    const error = await h.submit({ promptId: dropped, graph: { lost: { class_type: 'X', inputs: {} } }, backend }).catch((e: unknown) => e);
    expect((error as { status?: number }).status).to.equal(503);
    expect(h.transport.isTracked(dropped)).to.equal(false);
  });

  it('does not miss a prompt that finishes before POST /prompt answers', async () => {
    // Real ComfyUI can run a tiny prompt to the end before the HTTP answer leaves.
    const history = new Map<string, unknown>();
    const { url, sockets } = await scriptedComfy((req, res, body, socketsNow) => {
      const historyMatch = /^\/history\/(.+)$/.exec(req.url ?? '');
      if (req.method === 'POST' && req.url === '/prompt') {
        const id = (body as { prompt_id: string }).prompt_id;
        const output = { images: [{ filename: 'early_00001_.png', subfolder: '', type: 'output' }] };
        const send = (type: string, data: object) => socketsNow.at(-1)?.send(JSON.stringify({ type, data: { ...data, prompt_id: id } }));
        // ComfyUI 0.3.64's order (ws_success_run capture): the history is stored after execution_success.
        send('execution_start', {});
        send('execution_cached', { nodes: [] });
        send('executed', { node: '2', display_node: '2', output });
        send('execution_success', {});
        history.set(id, { prompt: [], outputs: { '2': output }, status: { status_str: 'success', completed: true, messages: [] } });
        send('executing', { node: null });
        setTimeout(() => res.end(JSON.stringify({ prompt_id: id, number: 7, node_errors: {} })), 150);
      } else if (historyMatch) {
        const id = decodeURIComponent(historyMatch[1]!);
        res.end(JSON.stringify(history.has(id) ? { [id]: history.get(id) } : {}));
      } else notFoundAnswer(res);
    });
    const h = await upHarness([url]);
    await waitUntil(() => sockets.length > 0, 'socket registered');
    const promptId = randomUUID();
    const result = await h.submit({ promptId, graph: tinyGraph('early'), backend: h.transport.pickBackend()! });
    expect(result.promptId).to.equal(promptId);
    const completed = h.eventsOf(promptId).find((e) => e.type === 'completed');
    expect(completed, 'completed before submit resolved').to.not.equal(undefined);
    expect(completed?.type === 'completed' && completed.outputs[0]?.filename).to.equal('early_00001_.png');
  });

  it('reads the outputs of a run whose socket was replaced mid-run from history, not from the frames it saw', async () => {
    // Node 2's executed frame is sent while no socket listens; node 3's arrives on the new socket.
    const image = (name: string) => ({ images: [{ filename: name, subfolder: '', type: 'output' }] });
    const history = new Map<string, unknown>();
    let running: string | null = null;
    const { url, sockets } = await scriptedComfy((req, res, body, socketsNow) => {
      const historyMatch = /^\/history\/(.+)$/.exec(req.url ?? '');
      if (req.method === 'POST' && req.url === '/prompt') {
        const id = (body as { prompt_id: string }).prompt_id;
        running = id;
        res.end(JSON.stringify({ prompt_id: id, number: 1, node_errors: {} }));
        for (const [type, data] of [['execution_start', {}], ['execution_cached', { nodes: [] }]] as const) {
          socketsNow.at(-1)?.send(JSON.stringify({ type, data: { ...data, prompt_id: id } }));
        }
      } else if (req.url === '/queue') {
        res.end(JSON.stringify({ queue_running: running ? [[1, running, {}, {}, []]] : [], queue_pending: [] }));
      } else if (historyMatch) {
        const id = decodeURIComponent(historyMatch[1]!);
        res.end(JSON.stringify(history.has(id) ? { [id]: history.get(id) } : {}));
      } else notFoundAnswer(res);
    });
    const h = await upHarness([url], { reconnect: { initialMs: 20, maxMs: 50, jitter: 0 } });
    await waitUntil(() => sockets.length > 0, 'socket registered');
    const promptId = randomUUID();
    await h.submit({ promptId, graph: tinyGraph('replaced'), backend: h.transport.pickBackend()! });
    await h.waitFor(promptId, 'cached');
    sockets[0]!.terminate();
    await waitUntil(() => sockets.length === 2 && h.transport.backends()[0]!.up, 'a new socket');
    const send = (type: string, data: object) => sockets[1]!.send(JSON.stringify({ type, data: { ...data, prompt_id: promptId } }));
    send('executed', { node: '3', display_node: '3', output: image('second_00001_.png') });
    send('execution_success', {});
    history.set(promptId, { prompt: [], outputs: { '2': image('first_00001_.png'), '3': image('second_00001_.png') }, status: { status_str: 'success', completed: true, messages: [] } });
    running = null;
    send('executing', { node: null });
    const done = await h.waitFor(promptId, 'completed');
    expect(done.outputs.map((o) => o.filename)).to.deep.equal(['first_00001_.png', 'second_00001_.png']);
  });

  it('answers 503 when no backend can be reached', async () => {
    const comfy = await fake();
    await comfy.stop();
    const h = open([comfy.url]);
    await waitUntil(() => h.transport.backends()[0]!.lastError !== null, 'a failed connection attempt');
    expect(h.transport.pickBackend()).to.equal(undefined);
    expect(h.transport.backends()[0]).to.include({ up: false });
    const name = h.transport.backends()[0]!.name;
    const promptId = randomUUID();
    let error: unknown;
    await h.submit({ promptId, graph: tinyGraph(), backend: name }).catch((e: unknown) => (error = e));
    expect((error as BridgeError).status).to.equal(503);
    expect((error as BridgeError).code).to.equal('backend_unavailable');
    expect(h.transport.isTracked(promptId)).to.equal(false);
    await h.transport.lookup(promptId, name).then(
      () => expect.fail('lookup should fail'),
      (e: unknown) => expect((e as BridgeError).status).to.equal(503),
    );
    expect(await h.transport.free()).to.deep.equal([{ name, url: comfy.url, ok: false }]);
    expect(await h.transport.objectInfo('ImageInvert')).to.equal(undefined);
  });
});
