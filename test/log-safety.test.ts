import { expect } from 'chai';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createApp, type BridgeApp } from '../core/app.js';
import { loadConfig } from '../core/config/load.js';
import { BridgeError } from '../core/errors.js';
import { createLogger, droppedLogLines, SafeDestination } from '../core/log.js';
import { definePlugin, type PluginManifest } from '../core/plugin.js';

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
