import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createApp, type BridgeApp } from '../core/app.js';
import { loadConfig } from '../cli/config/load.js';
import { BridgeError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { droppedLogLines, SafeDestination } from '../lib/log-destination.js';
import { definePlugin, type PluginManifest } from '../core/plugin.js';
import { until } from './helpers/until.js';

const BIN = new URL('../bin/comfy-bridge.js', import.meta.url).pathname;

/** /dev/full answers every write with ENOSPC: a full disk under the log, for real. */
const FULL_DISK = '/dev/full';

describe('a log that cannot be written', function () {
  this.timeout(20000);
  let dataDir: string;
  let app: BridgeApp | undefined;
  let fd: number | undefined;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'cb-log-'));
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
    await rm(dataDir, { recursive: true, force: true });
  });

  it('drops and counts lines on ENOSPC instead of throwing, and flush still returns', async () => {
    fd = openSync(FULL_DISK, 'w');
    const destination = new SafeDestination(fd);
    const before = droppedLogLines();
    for (let i = 0; i < 50; i++) destination.write(`{"msg":"line ${i}"}\n`);
    await destination.flush(5000);
    expect(droppedLogLines() - before).to.equal(50);
  });

  it('keeps serving /health and reports the dropped lines in /metrics while the log disk is full', async () => {
    fd = openSync(FULL_DISK, 'w');
    const config = await loadConfig({ inline: { server: { host: '127.0.0.1', port: 0 }, dataDir, plugins: { util: {}, metrics: {} } }, env: {} });
    app = await createApp(config, { log: createLogger('info', new SafeDestination(fd)) });
    const { url } = await app.start();
    for (let i = 0; i < 20; i++) expect((await fetch(`${url}/health`)).status).to.equal(200);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const dropped = Number(/^comfy_bridge_log_lines_dropped (\d+)/m.exec(metrics)?.[1]);
    expect(dropped).to.be.greaterThan(0);
  });
});

describe('log levels of refused requests', () => {
  let dataDir: string;
  let app: BridgeApp | undefined;
  afterEach(async () => {
    await app?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('logs an expected 503 at warn without a stack, and only an unexpected exception at error with its stack', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'cb-log-'));
    const lines: Record<string, unknown>[] = [];
    const capture = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const failing = definePlugin({
      name: 'failing',
      register(ctx) {
        ctx.route({ method: 'get', path: '/down', summary: 'x', scope: 'public', handler: () => { throw new BridgeError(503, 'comfyui_unavailable', 'no ComfyUI backend is reachable', { cause: new Error('connect ECONNREFUSED') }); } });
        ctx.route({ method: 'get', path: '/bug', summary: 'x', scope: 'public', handler: () => { throw new TypeError('x is undefined'); } });
      },
    }) as PluginManifest<never>;
    const config = await loadConfig({ inline: { server: { host: '127.0.0.1', port: 0 }, dataDir, plugins: {} }, env: {} });
    app = await createApp(config, { plugins: [failing], log: createLogger('debug', capture) });
    const { url } = await app.start();
    expect((await fetch(`${url}/down`)).status).to.equal(503);
    expect((await fetch(`${url}/bug`)).status).to.equal(500);
    const down = lines.find((l) => l.code === 'comfyui_unavailable');
    expect(down).to.include({ level: 40, msg: 'request failed', detail: 'no ComfyUI backend is reachable', cause: 'Error: connect ECONNREFUSED' });
    expect(JSON.stringify(down)).not.to.contain('stack');
    const bug = lines.find((l) => l.level === 50);
    expect((bug?.err as { stack?: string } | undefined)?.stack).to.contain('TypeError: x is undefined');
  });
});

/** `comfy-bridge serve` as a child; resolves with its URL once it logged the listening line. */
async function serveChild(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--log-format', 'json'], {
    env: { PATH: process.env.PATH, COMFY_BRIDGE_PORT: '0', COMFY_BRIDGE_DATA_DIR: dataDir, COMFY_BRIDGE_COMFYUI_URLS: 'http://127.0.0.1:9' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const onData = (chunk: Buffer): void => void (output += chunk.toString());
  child.stdout!.on('data', onData);
  const line = await until(() => output.split('\n').find((l) => l.includes('"msg":"listening"')), 'the bridge to listen', 15_000);
  child.stdout!.off('data', onData);
  return { child, url: (JSON.parse(line) as { url: string }).url };
}

describe('a stdout reader that dies or stops reading', function () {
  this.timeout(30000);
  let dataDir: string;
  let child: ChildProcess | undefined;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'cb-log-reader-'));
  });
  afterEach(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps serving when the reader of its stdout is gone (EPIPE), and still exits 0 on SIGTERM', async () => {
    const served = await serveChild(dataDir);
    child = served.child;
    child.stdout!.destroy();
    for (let i = 0; i < 50; i++) expect((await fetch(`${served.url}/health`)).status).to.equal(200);
    // The broken pipe surfaces on a later write: keep serving (each request logs a line) until it is counted.
    await until(async () => {
      expect((await fetch(`${served.url}/health`)).status).to.equal(200);
      const metrics = await (await fetch(`${served.url}/metrics`)).text();
      return Number(/^comfy_bridge_log_lines_dropped (\d+)/m.exec(metrics)?.[1]) > 0;
    }, 'a dropped log line to be counted', 10_000);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).to.equal(0);
  });

  it('keeps answering /health while the reader of its stdout has stopped reading (a full pipe)', async () => {
    const served = await serveChild(dataDir);
    child = served.child;
    child.stdout!.pause();
    // Each request logs a line: 600 of them fill the 64 KiB pipe several times over.
    for (let i = 0; i < 600; i++) expect((await fetch(`${served.url}/health?pad=${'x'.repeat(200)}`)).status).to.equal(200);
    expect(child.exitCode).to.equal(null);
  });
});
