import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, loadConfigWithOrigins } from '../cli/config/load.js';
import { redactConfig } from '../cli/check.js';
import { BootError } from '../core/errors.js';
import { UsageError } from '../cli/usage-error.js';
import { definePlugin, type PluginManifest } from '../core/plugin.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));

describe('kernel: config', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cb-config-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const write = async (name: string, text: string): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  };

  it('applies defaults when there is no file', async () => {
    const config = await loadConfig({ cwd: dir, env: {} });
    expect(config.server).to.include({ host: '127.0.0.1', port: 8288, publicUrl: null });
    expect(config.dataDir).to.equal(join(dir, 'data'));
    expect(Object.isFrozen(config.server)).to.equal(true);
  });

  it('layers defaults < file < environment < flags', async () => {
    const file = await write('c.yaml', 'server:\n  port: 9001\n  host: 0.0.0.0\nlog:\n  level: warn\n');
    const fileOnly = await loadConfig({ file, cwd: dir, env: {} });
    expect(fileOnly.server).to.include({ port: 9001, host: '0.0.0.0' });
    const withEnv = await loadConfig({ file, cwd: dir, env: { COMFY_BRIDGE_PORT: '9002', COMFY_BRIDGE_LOG_LEVEL: 'debug' } });
    expect(withEnv.server.port).to.equal(9002);
    expect(withEnv.server.host).to.equal('0.0.0.0');
    expect(withEnv.log.level).to.equal('debug');
    const withFlags = await loadConfig({ file, cwd: dir, env: { COMFY_BRIDGE_PORT: '9002' }, flags: { server: { port: 9003 } } });
    expect(withFlags.server.port).to.equal(9003);
  });

  it('maps the COMFY_BRIDGE_* variables onto plugin options', async () => {
    const config = await loadConfig({
      cwd: dir,
      env: {
        COMFY_BRIDGE_COMFYUI_URLS: 'http://a:8188, http://b:8188',
        COMFY_BRIDGE_WORKFLOWS_DIR: '/srv/flows',
        COMFY_BRIDGE_DATA_DIR: 'state',
        COMFY_BRIDGE_PUBLIC_URL: 'https://img.example.com',
        COMFY_BRIDGE_API_KEYS: 'k1:admin',
      },
    });
    expect(config.plugins.comfyui).to.deep.equal({ backends: [{ url: 'http://a:8188' }, { url: 'http://b:8188' }] });
    expect(config.plugins.workflows).to.deep.equal({ dir: '/srv/flows' });
    expect(config.plugins.auth).to.deep.equal({ keys: 'k1:admin' });
    expect(config.dataDir).to.equal(join(dir, 'state'));
    expect(config.server.publicUrl).to.equal('https://img.example.com');
  });

  it('turns auth on from the environment even when the file disables it', async () => {
    const file = await write('c.yaml', 'plugins:\n  auth: false\n');
    const config = await loadConfig({ file, cwd: dir, env: { COMFY_BRIDGE_API_KEYS: 'k1' } });
    expect(config.plugins.auth).to.deep.equal({ keys: 'k1' });
  });

  it('rejects a port that is not a number, naming the variable', async () => {
    const error = await loadConfig({ cwd: dir, env: { COMFY_BRIDGE_PORT: 'abc' } }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(BootError);
    expect((error as Error).message).to.equal('COMFY_BRIDGE_PORT="abc" is not a whole number');
  });

  it('rejects an unknown key, naming it', async () => {
    const file = await write('c.yaml', 'server:\n  prot: 1\n');
    const error = await loadConfig({ file, cwd: dir, env: {} }).catch((e: unknown) => e);
    expect((error as Error).message).to.equal('invalid config: server.prot is not a known key');
  });

  it('rejects out-of-range values and bad YAML with the file named', async () => {
    const range = await loadConfig({ cwd: dir, env: { COMFY_BRIDGE_PORT: '70000' } }).catch((e: unknown) => e);
    expect((range as Error).message).to.equal('invalid config: server.port must be <= 65535');
    const file = await write('bad.yaml', 'server: [1, 2\n');
    const yaml = await loadConfig({ file, cwd: dir, env: {} }).catch((e: unknown) => e);
    expect((yaml as Error).message).to.contain(`config file ${file} is not valid YAML`);
  });

  it('refuses a named config file that does not exist', async () => {
    const error = await loadConfig({ file: 'missing.yaml', cwd: dir, env: {} }).catch((e: unknown) => e);
    expect((error as Error).message).to.contain('cannot read config file');
  });

  it('layers a config file over the embedded defaults plugin by plugin; only false disables one', async () => {
    const file = await write('c.yaml', 'plugins:\n  comfyui:\n    backends:\n      - url: http://gpu:8188\n  metrics: false\n');
    const config = await loadConfig({ file, cwd: dir, env: {} });
    expect(config.plugins.comfyui).to.deep.equal({ backends: [{ url: 'http://gpu:8188' }] });
    expect(config.plugins.metrics).to.equal(false);
    for (const name of ['util', 'storage-nedb', 'workflows', 'generate', 'ws', 'openapi']) expect(config.plugins[name], name).to.be.an('object');
  });

  it('resolves the embedded default workflows folder against the package, not the working directory', async () => {
    const config = await loadConfig({ cwd: dir, env: {} });
    expect((config.plugins.workflows as { dir: string }).dir).to.equal(join(REPO, 'workflows'));
    const flagged = await loadConfig({ cwd: dir, env: {}, cliFlags: { 'workflows-dir': 'flows' } });
    expect((flagged.plugins.workflows as { dir: string }).dir).to.equal(join(dir, 'flows'));
  });

  it('reads the variables and flags a plugin declares in its manifest, and says where each value came from', async () => {
    const plugin = definePlugin({
      name: 'stamp',
      options: { type: 'object', properties: { label: { type: 'string' }, size: { type: 'integer' } } },
      env: { COMFY_BRIDGE_STAMP_LABEL: { key: 'label', description: 'Stamp text.' } },
      flags: { 'stamp-size': { key: 'size', parse: (raw) => Number(raw), description: 'Stamp size.' } },
      register() {},
    }) as PluginManifest<never>;
    const { config, origins } = await loadConfigWithOrigins({ cwd: dir, env: { COMFY_BRIDGE_STAMP_LABEL: 'hello' }, cliFlags: { 'stamp-size': '12', port: '9005' }, plugins: [plugin] });
    expect(config.plugins.stamp).to.deep.equal({ label: 'hello', size: 12 });
    expect(origins.get('plugins.stamp.label')).to.equal('env COMFY_BRIDGE_STAMP_LABEL');
    expect(origins.get('plugins.stamp.size')).to.equal('flag --stamp-size');
    expect(origins.get('server.port')).to.equal('flag --port');
    expect(origins.get('server.host')).to.equal('default');
  });

  it('refuses a flag no one declares as a usage error, and a plugin that takes a kernel variable', async () => {
    const unknown = await loadConfig({ cwd: dir, env: {}, cliFlags: { frobnicate: '1' } }).catch((e: unknown) => e);
    expect(unknown).to.be.instanceOf(UsageError);
    expect((unknown as Error).message).to.equal('unknown flag --frobnicate');
    const thief = definePlugin({ name: 'thief', env: { COMFY_BRIDGE_PORT: { key: 'port', description: 'x' } }, register() {} }) as PluginManifest<never>;
    const clash = await loadConfig({ cwd: dir, env: {}, plugins: [thief] }).catch((e: unknown) => e);
    expect((clash as Error).message).to.equal('plugin "thief" declares COMFY_BRIDGE_PORT, which the kernel already declares');
  });

  it('redacts secrets for printing', () => {
    const printed = redactConfig({ plugins: { auth: { keys: [{ key: 'abc', scopes: ['admin'] }] } }, server: { port: 1 } });
    expect(printed).to.deep.equal({ plugins: { auth: { keys: '[redacted]' } }, server: { port: 1 } });
  });
});
