import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { pino } from 'pino';
import type { KeyValueStore } from '../contracts/storage.js';
import type { Transport } from '../contracts/transport.js';
import { definePlugin } from '../core/plugin.js';
import type { PluginManifest } from '../core/plugin.js';
import { CLIENT_ID_KEY, loadClientId } from '../plugins/comfyui/client-id.js';
import { ComfyTransport } from '../plugins/comfyui/comfy-transport.js';
import { resolveOptions } from '../plugins/comfyui/options.js';
import { startBridge } from './helpers/bridge.js';
import { startFakeComfy } from './fake-comfyui/index.js';

/** A test plugin that hands out the services the comfyui plugin provides and uses. */
function probe(seen: { transport?: Transport; kv?: KeyValueStore }): PluginManifest<never> {
  return definePlugin<never>({
    name: 'comfyui-probe',
    dependencies: ['transport'],
    optionalDependencies: ['storage'],
    register(ctx) {
      seen.transport = ctx.use('transport');
      seen.kv = ctx.tryUse('storage')?.kv;
    },
  });
}

async function waitUntil(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A port that refuses connections: bind, read the port, close. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

describe('comfyui plugin', function () {
  this.timeout(15_000);

  it('starts the server with no backend up, and reports the backend down', async () => {
    const url = await deadUrl();
    const seen: { transport?: Transport } = {};
    const bridge = await startBridge({
      plugins: { comfyui: { backends: [{ url, name: 'gpu-1' }], reconnect: { initialMs: 50, maxMs: 100, jitter: 0 } } },
      extraPlugins: [probe(seen)],
    });
    try {
      expect(seen.transport).to.not.equal(undefined);
      expect(seen.transport!.pickBackend()).to.equal(undefined);
      await waitUntil(() => seen.transport!.backends()[0]!.lastError !== null, 'a connect attempt');
      expect(seen.transport!.backends()).to.deep.equal([
        { name: 'gpu-1', url, up: false, queueRemaining: null, lastError: seen.transport!.backends()[0]!.lastError, jobsApi: false },
      ]);
    } finally {
      await bridge.close();
    }
  });

  it('says once that a backend does not answer at start, and once (info) when it comes', async () => {
    // A port that takes connections and drops them at once, counting the attempts.
    let attempts = 0;
    const refusing = createNetServer((socket) => {
      attempts += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(refusing.address() as AddressInfo).port}`;
    const lines: { level: number; msg: string }[] = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) });
    const transport = new ComfyTransport(resolveOptions({ backends: [{ url, name: 'late' }], reconnect: { initialMs: 10, maxMs: 20, jitter: 0 } }), 'late-test', log);
    transport.start();
    const fake: { stop: () => Promise<void> } = { stop: async () => undefined };
    try {
      // Several failed attempts, one line.
      await waitUntil(() => attempts >= 4, 'several connect attempts');
      const about = (text: string) => lines.filter((l) => l.msg.includes(text));
      expect(about('not reachable')).to.have.length(1);
      expect(about('not reachable')[0]!.level).to.equal(40); // warn
      await new Promise<void>((resolve) => refusing.close(() => resolve()));
      const started = await startFakeComfy({ port: Number(new URL(url).port) });
      fake.stop = () => started.stop();
      await waitUntil(() => transport.backends()[0]!.up, 'the backend up');
      expect(about('connected')).to.have.length(1);
      expect(about('connected')[0]!.level).to.equal(30); // info
      expect(about('not reachable')).to.have.length(1);
    } finally {
      await transport.close();
      await fake.stop();
      if (refusing.listening) await new Promise<void>((resolve) => refusing.close(() => resolve()));
    }
  });

  it('rejects options with a typo', async () => {
    let error: unknown;
    await startBridge({ plugins: { comfyui: { backend: [{ url: 'http://127.0.0.1:1' }] } } }).then(
      (bridge) => bridge.close(),
      (e: unknown) => (error = e),
    );
    expect(String(error)).to.match(/comfyui/);
    expect(String(error)).to.match(/backend/);
  });

  it('keeps its ComfyUI clientId across restarts through the storage kv', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'comfyui-clientid-'));
    try {
      const url = await deadUrl();
      const ids: unknown[] = [];
      for (let run = 0; run < 2; run += 1) {
        const seen: { transport?: Transport; kv?: KeyValueStore } = {};
        const bridge = await startBridge({
          plugins: { 'storage-nedb': {}, comfyui: { backends: [{ url }] } },
          extraPlugins: [probe(seen)],
          config: { dataDir },
        });
        try {
          const stored = await seen.kv!.get(CLIENT_ID_KEY);
          expect(stored).to.equal((seen.transport as ComfyTransport).clientId);
          ids.push(stored);
        } finally {
          await bridge.close();
        }
      }
      expect(ids[0]).to.be.a('string').with.length.greaterThan(8);
      expect(ids[1]).to.equal(ids[0]);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('mints a fresh clientId when storage holds none or garbage', async () => {
    const map = new Map<string, unknown>([[CLIENT_ID_KEY, 'bad id with spaces']]);
    const kv: KeyValueStore = {
      get: async <T>(key: string) => map.get(key) as T | undefined,
      set: async (key, value) => void map.set(key, value),
    };
    const first = await loadClientId({ kv });
    expect(first.clientId).to.match(/^[0-9a-f-]{36}$/);
    expect(map.get(CLIENT_ID_KEY)).to.equal(first.clientId);
    expect((await loadClientId({ kv })).clientId).to.equal(first.clientId);
    const without = await loadClientId(undefined);
    expect(without.persisted).to.equal(false);
  });

  it('gives each instance on a shared store its own clientId, so instances never take each other\'s events', async () => {
    const map = new Map<string, unknown>();
    const kv: KeyValueStore = {
      get: async <T>(key: string) => map.get(key) as T | undefined,
      set: async (key, value) => void map.set(key, value),
    };
    const a = await loadClientId({ kv, shared: true });
    const b = await loadClientId({ kv, shared: true });
    expect(a.clientId).to.not.equal(b.clientId);
    expect([a.persisted, b.persisted]).to.deep.equal([false, false]);
    expect(map.has(CLIENT_ID_KEY)).to.equal(false);
  });

  it('polls in-flight prompts every 2 s by default on a shared store (adopted prompts get no events there), 30 s otherwise, as set when set', () => {
    expect(resolveOptions({}, { shared: true }).pollIntervalMs).to.equal(2000);
    expect(resolveOptions({}).pollIntervalMs).to.equal(30_000);
    expect(resolveOptions({ pollIntervalMs: 45_000 }, { shared: true }).pollIntervalMs).to.equal(45_000);
  });

  describe('headers sent to ComfyUI', () => {
    let server: Server;
    const seen: { method: string; url: string; headers: IncomingHttpHeaders }[] = [];

    beforeEach(async () => {
      seen.length = 0;
      server = createServer((req, res) => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
        req.resume();
        req.on('end', () => {
          res.setHeader('content-type', 'application/json');
          if (req.url === '/prompt') res.end(JSON.stringify({ prompt_id: 'x', number: 1, node_errors: {} }));
          else if (req.url === '/queue') res.end(JSON.stringify({ queue_running: [], queue_pending: [] }));
          else res.end('{}');
        });
      });
      server.on('upgrade', (req, socket) => {
        seen.push({ method: 'UPGRADE', url: req.url ?? '', headers: req.headers });
        socket.destroy();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });

    afterEach(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('never sends an Origin header (ComfyUI answers 403 to a foreign one)', async () => {
      const { port } = server.address() as AddressInfo;
      const transport = new ComfyTransport(
        resolveOptions({ backends: [{ url: `http://127.0.0.1:${port}`, name: 'raw' }], reconnect: { initialMs: 20, maxMs: 50, jitter: 0 } }),
        'origin-test',
        pino({ level: 'silent' }),
      );
      transport.start();
      try {
        const run = await transport.submit({ promptId: randomUUID(), graph: {}, backend: 'raw' }, () => undefined);
        await transport.free('raw');
        await run.cancel();
        await waitUntil(() => seen.some((s) => s.method === 'UPGRADE'), 'a websocket attempt');
      } finally {
        await transport.close();
      }
      expect(seen.map((s) => `${s.method} ${s.url.split('?')[0]}`)).to.include.members([
        'POST /prompt',
        'POST /free',
        'GET /queue',
        'UPGRADE /ws',
      ]);
      for (const request of seen) expect(request.headers, `${request.method} ${request.url}`).to.not.have.property('origin');
      const upgrade = seen.find((s) => s.method === 'UPGRADE')!;
      expect(upgrade.url).to.equal('/ws?clientId=origin-test');
    });
  });
});
