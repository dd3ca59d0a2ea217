/**
 * Interrupt and free from any instance of a fleet: 3 real `serve` processes on one PostgreSQL (storage and
 * bus), one fake ComfyUI (so a second generation waits in its queue). A generation submitted on A, watched
 * by a socket on B, is interrupted through C — running, queued, and after A died.
 */
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { startFakeComfy, type FakeComfy } from './fake-comfyui/index.js';
import { kill, startInstance, writeFleetConfig, type Instance } from './helpers/fleet.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { until } from './helpers/until.js';

interface Frame {
  status: string;
  details: string;
  data: { id?: string; state?: string };
}

/** A client's socket on one instance, keeping every frame. */
class Watcher {
  readonly frames: Frame[] = [];
  readonly #ws: WebSocket;
  constructor(base: string, clientId: string) {
    this.#ws = new WebSocket(`${base.replace('http', 'ws')}/ws?clientId=${clientId}`);
    this.#ws.on('message', (data, isBinary) => {
      if (!isBinary) this.frames.push(JSON.parse(data.toString()) as Frame);
    });
  }
  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#ws.once('open', () => resolve());
      this.#ws.once('error', reject);
    });
  }
  /** The `closed` frame that ends this generation, if it came. */
  end(id: string): Frame | undefined {
    return this.frames.find((f) => f.status === 'closed' && f.data.id === id);
  }
  close(): void {
    this.#ws.terminate();
  }
}

/** 100 sampler steps of 300 ms: long enough to be caught running, and the fake checks its interrupt flag every step. */
const SLOW = { workflow: 'text-to-image', '5/width': 64, '5/height': 64, '3/steps': 100 };

const PROBE_GRAPH = {
  '1': { inputs: { width: 8, height: 8, batch_size: 1, color: 4242 }, class_type: 'EmptyImage', _meta: { title: 'Empty Image' } },
  '2': { inputs: { filename_prefix: 'probe', images: ['1', 0] }, class_type: 'SaveImage', _meta: { title: 'Save Image' } },
};

/**
 * Runs PROBE_GRAPH straight on the fake and answers the nodes ComfyUI took from its cache: POST /free
 * (free_memory) empties that cache, so this shows whether the backend received it.
 */
async function cachedNodesOfARun(fake: FakeComfy): Promise<string[]> {
  const promptId = randomUUID();
  const response = await fetch(`${fake.url}/prompt`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: PROBE_GRAPH, client_id: 'probe', prompt_id: promptId }),
  });
  expect(response.status).to.equal(200);
  await fake.waitForIdle();
  const history = (await (await fetch(`${fake.url}/history/${promptId}`)).json()) as Record<string, { status: { messages: [string, { nodes?: string[] }][] } }>;
  return history[promptId]!.status.messages.find(([type]) => type === 'execution_cached')?.[1].nodes ?? [];
}

async function generate(base: string, clientId: string): Promise<string> {
  const res = await fetch(`${base}/generate-based-workflow?clientId=${clientId}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(SLOW),
  });
  const body = (await res.json()) as { id: string };
  expect(res.status, JSON.stringify(body)).to.equal(200);
  return body.id;
}

async function interrupt(base: string, query: string): Promise<{ status: number; body: { id: string; status: string; detail: string } }> {
  const res = await fetch(`${base}/interrupt${query}`, { method: 'POST' });
  return { status: res.status, body: (await res.json()) as { id: string; status: string; detail: string } };
}

describe('a fleet on PostgreSQL: interrupt and free from any instance', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let dir: string;
  let fake: FakeComfy;
  let instances: Instance[] = [];
  const watchers: Watcher[] = [];

  /** The prompt_id ComfyUI got for the next submission (the bridge mints it; clients never see it). */
  const nextPrompt = async (submit: () => Promise<string>): Promise<{ id: string; promptId: string }> => {
    const before = fake.prompts.length;
    const id = await submit();
    await until(() => fake.prompts.length > before, 'ComfyUI to receive the prompt', 10_000);
    return { id, promptId: fake.prompts[before]!.promptId };
  };
  const comfyQueue = async (): Promise<{ running: string[]; pending: string[] }> => {
    const queue = (await (await fetch(`${fake.url}/queue`)).json()) as { queue_running: unknown[][]; queue_pending: unknown[][] };
    return { running: queue.queue_running.map((item) => String(item[1])), pending: queue.queue_pending.map((item) => String(item[1])) };
  };
  const comfyHistory = async (promptId: string): Promise<{ status: { status_str: string; messages: [string, unknown][] } } | undefined> =>
    ((await (await fetch(`${fake.url}/history/${promptId}`)).json()) as Record<string, { status: { status_str: string; messages: [string, unknown][] } }>)[promptId];
  /** The generation's state as an instance reads it from the shared store. */
  const storedState = async (base: string, id: string): Promise<string | undefined> =>
    ((await (await fetch(`${base}/execution-info?id=${id}`)).json()) as { data?: { state?: string } }).data?.state;
  const watch = async (base: string, clientId: string): Promise<Watcher> => {
    const watcher = new Watcher(base, clientId);
    watchers.push(watcher);
    await watcher.opened();
    return watcher;
  };

  before(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'fleet-global-interrupt-'));
    await mkdir(join(dir, 'data'));
    fake = await startFakeComfy({ nodeDurationMs: 5 });
    fake.setNodeDuration('KSampler', 30_000);
    const config = await writeFleetConfig(dir, {
      databaseUrl: db.url,
      backends: [fake.url],
      plugins: { bus: false, 'bus-postgres': { url: db.url }, interrupt: {}, free: {} },
    });
    instances = await Promise.all([0, 1, 2].map(() => startInstance(config)));
  });

  after(async () => {
    for (const watcher of watchers) watcher.close();
    await Promise.all(instances.map((instance) => kill(instance)));
    await fake?.stop();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a running generation submitted on A is stopped through C, and B\'s socket gets its end', async () => {
    const [a, b, c] = instances as [Instance, Instance, Instance];
    const socket = await watch(b.url, 'run-client');
    const { id, promptId } = await nextPrompt(() => generate(a.url, 'run-client'));
    await until(async () => (await comfyQueue()).running.includes(promptId), 'ComfyUI to run the prompt', 10_000);
    // C reads the store, which A updates a moment after ComfyUI started it.
    await until(async () => (await storedState(c.url, id)) === 'running', 'C to read the generation as running', 10_000);

    const answer = await interrupt(c.url, `?id=${id}`);
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    expect(answer.body).to.include({ id, status: 'interrupted' });
    expect(answer.body.detail).to.include('it was running');

    await until(() => socket.end(id) !== undefined, "B's socket to get the end of the generation", 20_000);
    expect(socket.end(id)!.data.state).to.equal('interrupted');
    expect(socket.frames.some((f) => f.status === 'error' && f.data.id === id)).to.equal(true);
    // ComfyUI itself stopped that prompt.
    const history = await comfyHistory(promptId);
    expect(history?.status.messages.map(([type]) => type)).to.include('execution_interrupted');
  });

  it('a queued generation submitted on A is removed from the ComfyUI queue through C', async () => {
    const [a, b, c] = instances as [Instance, Instance, Instance];
    const first = await nextPrompt(() => generate(a.url, 'ahead-client'));
    await until(async () => (await comfyQueue()).running.includes(first.promptId), 'ComfyUI to run the first prompt', 10_000);
    const socket = await watch(b.url, 'queued-client');
    const queued = await nextPrompt(() => generate(a.url, 'queued-client'));
    expect((await comfyQueue()).pending).to.include(queued.promptId);

    const answer = await interrupt(c.url, '?clientId=queued-client');
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    expect(answer.body).to.include({ id: queued.id, status: 'interrupted' });
    expect(answer.body.detail).to.include('it was queued');

    await until(() => socket.end(queued.id) !== undefined, "B's socket to get the end of the queued generation", 20_000);
    expect(socket.end(queued.id)!.data.state).to.equal('interrupted');
    const queue = await comfyQueue();
    expect([...queue.pending, ...queue.running]).not.to.include(queued.promptId);
    // Removed and never run.
    expect(await comfyHistory(queued.promptId)).to.equal(undefined);
    const submitted = fake.prompts.length;

    // The one ahead is still running; stop it through B by clientId so the next test has ComfyUI to itself.
    expect((await interrupt(b.url, '?clientId=ahead-client')).status).to.equal(200);
    await until(async () => (await comfyQueue()).running.length === 0, 'ComfyUI to stop the first prompt', 20_000);
    await fake.waitForIdle();
    // Meanwhile nothing was submitted again: A's transport knew the queued prompt was removed on purpose (not lost).
    expect(fake.prompts.length).to.equal(submitted);
  });

  it('free through C for a client whose generation A ran frees that backend', async () => {
    const [, , c] = instances as [Instance, Instance, Instance];
    await fake.waitForIdle();
    await cachedNodesOfARun(fake);
    expect(await cachedNodesOfARun(fake), 'a second run is served from the cache').to.include('1');
    const res = await fetch(`${c.url}/free?clientId=run-client`, { method: 'POST' });
    const body = (await res.json()) as { detail: string; backends: { name: string; ok: boolean }[] };
    expect(res.status, JSON.stringify(body)).to.equal(200);
    expect(body.detail).to.equal('server memory free now / gpu-1');
    expect(body.backends).to.deep.equal([{ name: 'gpu-1', url: fake.url, ok: true }]);
    expect(await cachedNodesOfARun(fake), 'the cache was emptied by the free').to.deep.equal([]);
  });

  it('a generation whose instance died is stopped through C once a survivor follows it', async () => {
    const [a, b, c] = instances as [Instance, Instance, Instance];
    const socket = await watch(b.url, 'orphan-client');
    const { id, promptId } = await nextPrompt(() => generate(a.url, 'orphan-client'));
    await until(async () => (await comfyQueue()).running.includes(promptId), 'ComfyUI to run the prompt', 10_000);
    await kill(a);

    const answer = await interrupt(c.url, `?id=${id}`);
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    expect(answer.body).to.include({ id, status: 'interrupted' });

    await until(() => socket.end(id) !== undefined, "B's socket to get the end of the orphaned generation", 30_000);
    expect(socket.end(id)!.data.state).to.equal('interrupted');
    expect((await comfyHistory(promptId))?.status.messages.map(([type]) => type)).to.include('execution_interrupted');
    // Submitted once: the survivor followed the prompt A had submitted, it did not submit it again.
    expect(fake.prompts.filter((p) => p.promptId === promptId)).to.have.length(1);
  });
});
