import { expect } from 'chai';
import { createApp } from '../core/app.js';
import { finishConfig } from '../core/config/schema.js';
import { definePlugin, type PluginManifest } from '../core/plugin.js';
import { BootError } from '../core/errors.js';

const config = (plugins: Record<string, Record<string, unknown> | false> = {}, server: Record<string, unknown> = {}) =>
  finishConfig({ log: { level: 'silent' }, server: { port: 0, ...server }, plugins }, { cwd: process.cwd(), configDir: process.cwd() });

const plugin = (name: string, extra: Partial<PluginManifest> = {}, events: string[] = []): PluginManifest =>
  definePlugin({
    name,
    register(ctx) {
      events.push(`register ${name}`);
      ctx.onClose(() => void events.push(`close ${name}`));
    },
    ...extra,
  });

async function bootError(promise: Promise<unknown>): Promise<BootError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(BootError);
    return error as BootError;
  }
  throw new Error('expected a BootError');
}

describe('kernel: plugin loader', () => {
  it('registers plugins after their dependencies, whatever the given order', async () => {
    const events: string[] = [];
    const app = await createApp(config(), {
      plugins: [
        plugin('c', { dependencies: ['b'] }, events),
        plugin('b', { dependencies: ['store'] }, events),
        plugin('a', { provides: ['storage'] }, events),
        plugin('store', {}, events),
      ],
    });
    expect(app.plugins).to.deep.equal(['store', 'b', 'c', 'a']);
    expect(events).to.deep.equal(['register store', 'register b', 'register c', 'register a']);
    await app.close();
  });

  it('resolves a dependency on a service name to the plugin that provides it', async () => {
    const app = await createApp(config(), {
      plugins: [plugin('user', { dependencies: ['storage'] }), plugin('db', { provides: ['storage'] })],
    });
    expect(app.plugins).to.deep.equal(['db', 'user']);
    await app.close();
  });

  it('refuses a missing dependency, naming both plugins', async () => {
    const error = await bootError(createApp(config(), { plugins: [plugin('web', { dependencies: ['nowhere'] })] }));
    expect(error.message).to.equal('plugin "web" depends on "nowhere", which no enabled plugin is or provides');
  });

  it('ignores a missing optional dependency but orders by a present one', async () => {
    const app = await createApp(config(), {
      plugins: [plugin('web', { optionalDependencies: ['metrics', 'ghost'] }), plugin('metrics')],
    });
    expect(app.plugins).to.deep.equal(['metrics', 'web']);
    await app.close();
  });

  it('refuses a cycle and prints its path', async () => {
    const error = await bootError(
      createApp(config(), {
        plugins: [plugin('a', { dependencies: ['b'] }), plugin('b', { dependencies: ['c'] }), plugin('c', { dependencies: ['a'] })],
      }),
    );
    expect(error.message).to.equal('plugin dependency cycle: a → b → c → a');
  });

  it('refuses two plugins with the same name', async () => {
    const error = await bootError(createApp(config(), { plugins: [plugin('twin'), plugin('twin')] }));
    expect(error.message).to.match(/two plugins are named "twin"/);
  });

  it('refuses a manifest without register()', async () => {
    const error = await bootError(createApp(config(), { plugins: [{ name: 'broken' } as unknown as PluginManifest] }));
    expect(error.message).to.match(/plugin "broken" .*has no register\(\) function/);
  });

  it('validates options, applying defaults and naming plugin and key on error', async () => {
    const seen: unknown[] = [];
    const withOptions = definePlugin<{ size: number; mode: string }>({
      name: 'opt',
      options: {
        type: 'object',
        additionalProperties: false,
        properties: { size: { type: 'integer', minimum: 1, default: 3 }, mode: { enum: ['a', 'b'], default: 'a' } },
      },
      register(ctx) {
        seen.push(ctx.options);
      },
    });
    const app = await createApp(config({ opt: { mode: 'b' } }), { plugins: [withOptions as PluginManifest<never>] });
    expect(seen).to.deep.equal([{ size: 3, mode: 'b' }]);
    expect(Object.isFrozen(seen[0])).to.equal(true);
    await app.close();

    const typo = await bootError(createApp(config({ opt: { sise: 4 } }), { plugins: [withOptions as PluginManifest<never>] }));
    expect(typo.message).to.equal('invalid options for plugin "opt": plugins.opt.sise is not a known key');
    const bad = await bootError(createApp(config({ opt: { size: 0 } }), { plugins: [withOptions as PluginManifest<never>] }));
    expect(bad.message).to.equal('invalid options for plugin "opt": plugins.opt.size must be >= 1');
  });

  it('times out a register() that hangs, naming the plugin, and closes what was registered', async () => {
    const events: string[] = [];
    const hanging = definePlugin({ name: 'sleepy', dependencies: ['early'], register: () => new Promise<void>(() => undefined) });
    const error = await bootError(
      createApp(config({}, { registerTimeoutMs: 50 }), { plugins: [hanging, plugin('early', {}, events)] }),
    );
    expect(error.message).to.equal('plugin "sleepy" register() did not finish within 50 ms');
    expect(events).to.deep.equal(['register early', 'close early']);
  });

  it('closes plugins in reverse registration order', async () => {
    const events: string[] = [];
    const app = await createApp(config(), {
      plugins: [plugin('one', {}, events), plugin('two', { dependencies: ['one'] }, events), plugin('three', { dependencies: ['two'] }, events)],
    });
    await app.close();
    expect(events.filter((e) => e.startsWith('close'))).to.deep.equal(['close three', 'close two', 'close one']);
  });

  it('lets plugins reach each other through services, and refuses a second provider', async () => {
    let seen: unknown;
    const provider = definePlugin({
      name: 'kv',
      provides: ['storage'],
      register: (ctx) => ctx.provide('storage', { marker: 42 } as never),
    });
    const consumer = definePlugin({
      name: 'reader',
      dependencies: ['storage'],
      register: (ctx) => {
        seen = ctx.use('storage');
      },
    });
    const app = await createApp(config(), { plugins: [consumer, provider] });
    expect(seen).to.deep.equal({ marker: 42 });
    await app.close();

    const second = definePlugin({ name: 'kv2', dependencies: ['kv'], register: (ctx) => ctx.provide('storage', {} as never) });
    const error = await bootError(createApp(config(), { plugins: [provider, second] }));
    expect(error.message).to.equal('plugin "kv2" provides service "storage", already provided by plugin "kv"');
  });

  it('refuses a config that names a plugin that does not exist', async () => {
    const error = await bootError(createApp(config({ 'no-such-plugin': {} })));
    expect(error.message).to.equal('config names plugin "no-such-plugin", which does not exist (no plugins/no-such-plugin/index.ts)');
  });

  it('exposes a frozen hook catalog', async () => {
    const app = await createApp(config());
    expect(Object.isFrozen(app.hooks)).to.equal(true);
    expect(Object.keys(app.hooks)).to.include.members(['ready', 'server', 'listening', 'preClose', 'authenticate', 'onResponse']);
    expect(Object.keys(app.hooks), 'a hook nothing taps').to.not.include('onError');
    // Domain hooks live on the service that owns them (generations.hooks), not in the kernel.
    expect(Object.keys(app.hooks)).to.not.include.members(['beforeSubmit']);
    await app.close();
  });
});
