import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';

const BIN = new URL('../bin/comfy-bridge.js', import.meta.url).pathname;

interface Run {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
}

function run(args: string[], env: Record<string, string> = {}, cwd?: string): Run {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Run = { child, stdout: [], stderr: [] };
  child.stdout!.on('data', (chunk: Buffer) => out.stdout.push(chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => out.stderr.push(chunk.toString('utf8')));
  return out;
}

async function exitCode(r: Run): Promise<number> {
  if (r.child.exitCode !== null) return r.child.exitCode;
  const [code] = (await once(r.child, 'exit')) as [number];
  return code;
}

async function waitForLine(r: Run, pattern: RegExp, timeoutMs = 15000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const line = r.stdout.join('').split('\n').find((l) => pattern.test(l));
    if (line) return line;
    if (r.child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no line matching ${pattern}; stdout: ${r.stdout.join('')} stderr: ${r.stderr.join('')}`);
}

describe('kernel: CLI', function () {
  this.timeout(30000);
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'cb-cli-'));
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('serve starts on the port from the environment, serves /health, and exits 0 on SIGTERM', async () => {
    const r = run(['serve'], {
      COMFY_BRIDGE_PORT: '0',
      COMFY_BRIDGE_DATA_DIR: dataDir,
      COMFY_BRIDGE_COMFYUI_URLS: 'http://127.0.0.1:9',
    });
    const line = await waitForLine(r, /"msg":"listening"/);
    const { url } = JSON.parse(line) as { url: string };
    const health = await fetch(`${url}/health`);
    expect(health.status).to.equal(200);
    r.child.kill('SIGTERM');
    expect(await exitCode(r)).to.equal(0);
    expect(r.stdout.join('')).to.contain('"msg":"closed"');
  });

  it('refuses to start on a bad config with a message naming the key and a non-zero exit', async () => {
    const r = run(['serve'], { COMFY_BRIDGE_PORT: 'abc', COMFY_BRIDGE_DATA_DIR: dataDir });
    expect(await exitCode(r)).to.equal(1);
    expect(r.stderr.join('')).to.equal('comfy-bridge: COMFY_BRIDGE_PORT="abc" is not a whole number\n');
  });

  it('config check prints the effective config with secrets redacted', async () => {
    const r = run(['config', 'check', '--port', '9999'], { COMFY_BRIDGE_API_KEYS: 'a-very-long-secret-key-123:admin', COMFY_BRIDGE_DATA_DIR: dataDir });
    expect(await exitCode(r)).to.equal(0);
    const printed = JSON.parse(r.stdout.join('')) as { server: { port: number }; plugins: Record<string, unknown> };
    expect(printed.server.port).to.equal(9999);
    expect(r.stdout.join('')).not.to.contain('a-very-long-secret-key-123');
    expect(printed.plugins.auth).to.deep.equal({ keys: '[redacted]' });
  });

  it('answers an unknown command with usage and exit code 2', async () => {
    const r = run(['frobnicate']);
    expect(await exitCode(r)).to.equal(2);
    expect(r.stderr.join('')).to.contain('unknown command "frobnicate"');
  });
});

describe('kernel: CLI init and openapi', function () {
  this.timeout(30000);
  let cwd: string;
  beforeEach(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'cb-init-'));
  });
  afterEach(async () => {
    await rm(cwd, { recursive: true, force: true });
  });

  const runIn = (args: string[]): Run => run(args, {}, cwd);

  it('init writes a starter config that passes config check, and refuses to overwrite it', async () => {
    const first = runIn(['init']);
    expect(await exitCode(first)).to.equal(0);
    expect(first.stdout.join('')).to.contain('config/local.yaml');
    const check = runIn(['config', 'check', '--config', 'config/local.yaml']);
    expect(await exitCode(check), check.stderr.join('')).to.equal(0);
    const effective = JSON.parse(check.stdout.join('')) as { plugins: Record<string, unknown> };
    expect(Object.keys(effective.plugins)).to.include.members(['comfyui', 'generate', 'ws', 'storage-nedb']);
    const again = runIn(['init']);
    expect(await exitCode(again)).to.equal(1);
    expect(again.stderr.join('')).to.contain('exists; use --force');
  });

  it('openapi prints the document of the configured plugins', async () => {
    const r = run(['openapi'], { COMFY_BRIDGE_COMFYUI_URLS: 'http://127.0.0.1:9' });
    expect(await exitCode(r), r.stderr.join('')).to.equal(0);
    const document = JSON.parse(r.stdout.join('')) as { openapi: string; paths: Record<string, unknown> };
    expect(document.openapi).to.equal('3.1.0');
    expect(Object.keys(document.paths)).to.include.members(['/generate-based-workflow', '/ws', '/history', '/upload']);
  });
});
