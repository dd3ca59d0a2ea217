import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
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

  it('config check --json prints the effective config with secrets redacted', async () => {
    const r = run(['config', 'check', '--json', '--port', '9999'], { COMFY_BRIDGE_API_KEYS: 'a-very-long-secret-key-123:admin', COMFY_BRIDGE_DATA_DIR: dataDir });
    expect(await exitCode(r)).to.equal(0);
    const printed = JSON.parse(r.stdout.join('')) as { server: { port: number }; plugins: Record<string, unknown> };
    expect(printed.server.port).to.equal(9999);
    expect(r.stdout.join('')).not.to.contain('a-very-long-secret-key-123');
    expect(printed.plugins.auth).to.deep.equal({ keys: '[redacted]', bindingTtlMs: 86_400_000, maxBoundClientIds: 10_000 });
  });

  it('answers an unknown command with usage on stderr and exit code 2', async () => {
    const r = run(['frobnicate']);
    expect(await exitCode(r)).to.equal(2);
    expect(r.stderr.join('')).to.contain('unknown command "frobnicate"');
    expect(r.stderr.join('')).to.contain('Usage:');
    expect(r.stdout.join('')).to.equal('');
  });

  it('answers an unknown flag and a flag without its value with usage on stderr and exit code 2', async () => {
    const unknown = run(['serve', '--bogus', 'x'], { COMFY_BRIDGE_DATA_DIR: dataDir });
    expect(await exitCode(unknown)).to.equal(2);
    expect(unknown.stderr.join('')).to.contain('unknown flag --bogus');
    expect(unknown.stdout.join('')).to.equal('');
    const missing = run(['serve', '--port']);
    expect(await exitCode(missing)).to.equal(2);
    expect(missing.stderr.join('')).to.contain('--port needs a value');
  });

  it('prints the package version with --version', async () => {
    const r = run(['--version']);
    expect(await exitCode(r)).to.equal(0);
    const { version } = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(r.stdout.join('')).to.equal(`${version}\n`);
  });

  it('prints one command\'s help, with the flags the plugins declare, on stdout with exit 0', async () => {
    const r = run(['serve', '--help']);
    expect(await exitCode(r)).to.equal(0);
    const help = r.stdout.join('');
    expect(help).to.contain('comfy-bridge serve');
    expect(help).to.match(/--comfyui URL\[,URL\.\.\.\].*plugin comfyui/);
    expect(help).to.match(/--workflows-dir DIR.*plugin workflows/);
    expect(help).to.contain('--log-format');
    const viaHelp = run(['help', 'init']);
    expect(await exitCode(viaHelp)).to.equal(0);
    expect(viaHelp.stdout.join('')).to.contain('comfy-bridge init [--force]');
  });

  it('lists the flags of a config file\'s own plugin modules in help', async () => {
    await writeFile(join(dataDir, 'stamp.mjs'), "export default { name: 'stamp', flags: { 'stamp-text': { key: 'text', value: 'TEXT', description: 'Stamp text.' } }, register() {} };\n");
    const file = join(dataDir, 'c.yaml');
    await writeFile(file, 'pluginModules:\n  - ./stamp.mjs\n');
    const r = run(['serve', '--help', '--config', file]);
    expect(await exitCode(r), r.stderr.join('')).to.equal(0);
    expect(r.stdout.join('')).to.match(/--stamp-text TEXT\s+Stamp text\. \(plugin stamp\)/);
  });

  it('config check says where each value came from: default, file, env, flag', async () => {
    const file = join(dataDir, 'c.yaml');
    await writeFile(file, 'server:\n  host: 0.0.0.0\nplugins:\n  comfyui:\n    lostAfterMs: 5000\n');
    const r = run(['config', 'check', '--config', file, '--port', '9998'], { COMFY_BRIDGE_COMFYUI_URLS: 'http://127.0.0.1:9', COMFY_BRIDGE_DATA_DIR: dataDir });
    expect(await exitCode(r), r.stderr.join('')).to.equal(0);
    const lines = r.stdout.join('').split('\n');
    const row = (key: string) => lines.find((line) => line.startsWith(`${key} `)) ?? `(no row for ${key})`;
    expect(row('server.port')).to.match(/9998\s+flag --port$/);
    expect(row('server.host')).to.match(/"0\.0\.0\.0"\s+file /);
    expect(row('plugins.comfyui.lostAfterMs')).to.match(/5000\s+file /);
    expect(row('plugins.comfyui.backends')).to.match(/env COMFY_BRIDGE_COMFYUI_URLS$/);
    expect(row('dataDir')).to.match(/env COMFY_BRIDGE_DATA_DIR$/);
    expect(row('server.shutdownTimeoutMs')).to.match(/10000\s+default$/);
    expect(row('plugins.auth')).to.match(/false \(disabled\)\s+default$/);
  });

  it('runs on the embedded defaults from any working directory (config and workflows belong to the package)', async () => {
    const r = run(['serve', '--log-format', 'json'], { COMFY_BRIDGE_PORT: '0', COMFY_BRIDGE_DATA_DIR: dataDir, COMFY_BRIDGE_COMFYUI_URLS: 'http://127.0.0.1:9' }, dataDir);
    const line = await waitForLine(r, /"msg":"listening"/);
    const { url, plugins } = JSON.parse(line) as { url: string; plugins: string[] };
    expect(plugins).to.include.members(['util', 'workflows', 'generate', 'ws']);
    const list = (await (await fetch(`${url}/workflow-list`)).json()) as unknown;
    expect(JSON.stringify(list)).to.contain('invert-image');
    expect(r.stdout.join('')).to.match(/plugins registered in \d+ ms/);
    r.child.kill('SIGTERM');
    expect(await exitCode(r)).to.equal(0);
  });

  it('writes human log lines with --log-format pretty', async () => {
    const r = run(['serve', '--log-format', 'pretty'], { COMFY_BRIDGE_PORT: '0', COMFY_BRIDGE_DATA_DIR: dataDir, COMFY_BRIDGE_COMFYUI_URLS: 'http://127.0.0.1:9' });
    const line = await waitForLine(r, /listening/);
    expect(line.trim().startsWith('{')).to.equal(false);
    expect(line).to.match(/INFO/);
    r.child.kill('SIGTERM');
    expect(await exitCode(r)).to.equal(0);
  });

  it('names a port in use in one line on stderr and exits 1, with no stack', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    try {
      const r = run(['serve'], { COMFY_BRIDGE_PORT: String(port), COMFY_BRIDGE_DATA_DIR: dataDir, COMFY_BRIDGE_COMFYUI_URLS: 'http://127.0.0.1:9' });
      expect(await exitCode(r)).to.equal(1);
      const stderr = r.stderr.join('');
      expect(stderr).to.equal(`comfy-bridge: port ${port} on 127.0.0.1 is already in use (EADDRINUSE): stop the other server or choose another --port\n`);
      expect(r.stdout.join('')).not.to.contain('"stack"');
    } finally {
      blocker.close();
    }
  });

  it('names a data dir it cannot use in one line on stderr and exits 1, with no stack', async () => {
    const notAFolder = join(dataDir, 'a-file');
    await writeFile(notAFolder, 'x');
    const r = run(['serve'], { COMFY_BRIDGE_PORT: '0', COMFY_BRIDGE_DATA_DIR: join(notAFolder, 'data'), COMFY_BRIDGE_COMFYUI_URLS: 'http://127.0.0.1:9' });
    expect(await exitCode(r)).to.equal(1);
    const stderr = r.stderr.join('');
    expect(stderr.split('\n').filter(Boolean)).to.have.length(1);
    expect(stderr).to.contain(notAFolder);
    expect(stderr).to.contain('ENOTDIR');
    expect(r.stdout.join('')).not.to.contain('"stack"');
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
    const check = runIn(['config', 'check', '--json', '--config', 'config/local.yaml']);
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
