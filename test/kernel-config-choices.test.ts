import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, loadConfigWithOrigins } from '../cli/config/load.js';
import { BootError } from '../core/errors.js';
import { definePlugin, type PluginManifest } from '../core/plugin.js';

const URL_A = 'postgres://bridge@db.internal:5432/bridge';

/** `storage: nedb|postgres` and COMFY_BRIDGE_DATABASE_URL: choices the plugins declare (selectedBy, replaces, shared env). */
describe('kernel: config choices declared by plugins', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cb-choices-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const file = async (text: string): Promise<string> => {
    const path = join(dir, 'bridge.yaml');
    await writeFile(path, text);
    return path;
  };
  const enabled = (plugins: Record<string, unknown>, name: string) => typeof plugins[name] === 'object';

  it('keeps storage-nedb and the in-process bus by default', async () => {
    const { plugins } = await loadConfig({ cwd: dir, env: {} });
    expect(enabled(plugins, 'storage-nedb') && enabled(plugins, 'bus')).to.equal(true);
    expect(plugins['storage-postgres']).to.equal(undefined);
    expect(plugins['bus-postgres']).to.equal(undefined);
  });

  it('storage: postgres in a config file swaps both storage and bus', async () => {
    const path = await file(`storage: postgres\nplugins:\n  storage-postgres: {url: "${URL_A}"}\n  bus-postgres: {url: "${URL_A}"}\n`);
    const { config, origins } = await loadConfigWithOrigins({ file: path, cwd: dir, env: {} });
    expect(config.plugins['storage-nedb']).to.equal(false);
    expect(config.plugins.bus).to.equal(false);
    expect(config.plugins['storage-postgres']).to.include({ url: URL_A });
    expect(config.plugins['bus-postgres']).to.include({ url: URL_A });
    expect(origins.get('plugins.storage-nedb')).to.equal('storage: postgres');
    expect(config).to.not.have.property('storage');
  });

  it('COMFY_BRIDGE_DATABASE_URL alone selects PostgreSQL for storage and bus', async () => {
    const { config, origins } = await loadConfigWithOrigins({ cwd: dir, env: { COMFY_BRIDGE_DATABASE_URL: URL_A } });
    expect(config.plugins['storage-postgres']).to.include({ url: URL_A });
    expect(config.plugins['bus-postgres']).to.include({ url: URL_A });
    expect(config.plugins['storage-nedb']).to.equal(false);
    expect(config.plugins.bus).to.equal(false);
    expect(origins.get('plugins.storage-postgres.url')).to.equal('env COMFY_BRIDGE_DATABASE_URL');
    expect(origins.get('plugins.bus')).to.equal('replaced by bus-postgres');
  });

  it('storage: postgres with the URL from the environment; storage: nedb keeps nedb even when a URL is set', async () => {
    const postgres = await loadConfig({ file: await file('storage: postgres\n'), cwd: dir, env: { COMFY_BRIDGE_DATABASE_URL: URL_A } });
    expect(postgres.plugins['bus-postgres']).to.include({ url: URL_A });
    expect(postgres.plugins.bus).to.equal(false);
    const nedb = await loadConfig({ file: await file('storage: nedb\n'), cwd: dir, env: { COMFY_BRIDGE_DATABASE_URL: URL_A } });
    expect(enabled(nedb.plugins, 'storage-nedb') && enabled(nedb.plugins, 'bus')).to.equal(true);
    expect(nedb.plugins['storage-postgres']).to.equal(false);
    expect(nedb.plugins['bus-postgres']).to.equal(false);
  });

  it('refuses a value no plugin declares, naming the ones that exist', async () => {
    const error = await loadConfig({ file: await file('storage: mongo\n'), cwd: dir, env: {} }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(BootError);
    expect((error as Error).message).to.include('storage must be one of').and.include('nedb').and.include('postgres').and.include('"mongo"');
  });

  it('works on an inline config too (embedders and tests)', async () => {
    const config = await loadConfig({ inline: { storage: 'postgres', plugins: { 'storage-nedb': {}, bus: {}, 'storage-postgres': { url: URL_A }, 'bus-postgres': { url: URL_A } } }, cwd: dir, env: {} });
    expect(config.plugins['storage-nedb']).to.equal(false);
    expect(config.plugins.bus).to.equal(false);
    expect(config.plugins['bus-postgres']).to.include({ url: URL_A });
  });

  it('a shared variable must be shared by every plugin that declares it', async () => {
    const mine = (name: string, shared: boolean) =>
      definePlugin({ name, env: { COMFY_BRIDGE_DATABASE_URL: { key: 'url', shared, description: 'x' } }, register() {} }) as PluginManifest<never>;
    const error = await loadConfig({ cwd: dir, env: { COMFY_BRIDGE_DATABASE_URL: URL_A }, plugins: [mine('my-store', false)] }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(BootError);
    expect((error as Error).message).to.include('COMFY_BRIDGE_DATABASE_URL');
  });
});
