import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BootError } from '../errors.js';
import type { PluginManifest } from '../plugin.js';
import type { BridgeConfig } from '../config/schema.js';

/** Built-in plugins live in plugins/<name>/index.ts and are enabled by naming them in config.plugins. */
const BUILT_IN_DIR = fileURLToPath(new URL('../../plugins/', import.meta.url));

export interface EnabledPlugin {
  manifest: PluginManifest<Record<string, unknown>>;
  options: Record<string, unknown>;
}

/** The plugins a config enables: built-ins named in config.plugins, config.pluginModules, and `extra` (tests, embedders). */
export async function resolvePlugins(config: BridgeConfig, extra: readonly PluginManifest<never>[] = []): Promise<EnabledPlugin[]> {
  const byName = new Map<string, PluginManifest<Record<string, unknown>>>();
  const add = (manifest: unknown, origin: string): void => {
    const checked = checkManifest(manifest, origin);
    if (byName.has(checked.name)) throw new BootError(`two plugins are named "${checked.name}" (${origin} and an earlier one); plugin names must be unique`);
    byName.set(checked.name, checked);
  };

  for (const manifest of extra) add(manifest, 'an embedded plugin');
  for (const specifier of config.pluginModules) add(await importDefault(specifier), `module ${specifier}`);
  for (const [name, options] of Object.entries(config.plugins)) {
    if (options === false || byName.has(name)) continue;
    add(await importBuiltIn(name), `plugins/${name}`);
  }

  return [...byName.values()]
    .filter((manifest) => config.plugins[manifest.name] !== false)
    .map((manifest) => ({ manifest, options: { ...((config.plugins[manifest.name] as Record<string, unknown> | undefined) ?? {}) } }));
}

/**
 * Every plugin the config could enable — each built-in folder (or those of `builtIns`) and each plugin module — so
 * the `env` and `flags` they declare are known before the config is finished (a variable may enable a plugin).
 */
export async function knownManifests(pluginModules: readonly string[], builtIns?: ReadonlySet<string>): Promise<PluginManifest<never>[]> {
  const names = readdirSync(BUILT_IN_DIR, { withFileTypes: true }).filter((e) => e.isDirectory() && NAME.test(e.name) && (builtIns?.has(e.name) ?? true)).map((e) => e.name).sort();
  const manifests: PluginManifest<never>[] = [];
  for (const name of names) manifests.push(checkManifest(await importBuiltIn(name), `plugins/${name}`) as PluginManifest<never>);
  for (const specifier of pluginModules) manifests.push(checkManifest(await importDefault(specifier), `module ${specifier}`) as PluginManifest<never>);
  return manifests;
}

async function importBuiltIn(name: string): Promise<unknown> {
  if (!NAME.test(name)) throw new BootError(`config names plugin "${name}", which is not a valid plugin name`);
  const file = ['index.ts', 'index.js'].map((f) => `${BUILT_IN_DIR}${name}/${f}`).find((path) => existsSync(path));
  if (!file) throw new BootError(`config names plugin "${name}", which does not exist (no plugins/${name}/index.ts)`);
  return importDefault(pathToFileURL(file).href);
}

/**
 * Paths import as files; a package name is looked up from the working directory first (where an operator
 * runs `npm install my-plugin`), then from comfy-bridge's own location.
 */
async function importDefault(specifier: string): Promise<unknown> {
  const url = isAbsolute(specifier) ? pathToFileURL(specifier).href : specifier.startsWith('file:') ? specifier : fromWorkingDir(specifier);
  let module: { default?: unknown };
  try {
    module = (await import(url)) as { default?: unknown };
  } catch (error) {
    throw new BootError(`cannot load plugin module ${specifier}: ${(error as Error).message}`, { cause: error });
  }
  return module.default;
}

function fromWorkingDir(name: string): string {
  try {
    return pathToFileURL(createRequire(join(process.cwd(), 'package.json')).resolve(name)).href;
  } catch {
    return name;
  }
}

const NAME = /^[a-z0-9][a-z0-9-]*$/;
const SETTING_NAME = { env: /^COMFY_BRIDGE_[A-Z0-9_]+$/, flags: /^[a-z][a-z0-9-]*$/ };

/** Programmer mistakes in a manifest fail loudly at boot (hapi's habit). */
function checkManifest(value: unknown, origin: string): PluginManifest<Record<string, unknown>> {
  const m = value as Partial<PluginManifest<Record<string, unknown>>> | undefined;
  if (typeof m !== 'object' || m === null) throw new BootError(`${origin} has no default export plugin manifest`);
  if (typeof m.name !== 'string' || !NAME.test(m.name)) throw new BootError(`${origin}: plugin manifest needs a "name" of lowercase letters, digits and dashes`);
  const wrong = (what: string) => new BootError(`plugin "${m.name}"${what}`);
  if (typeof m.register !== 'function') throw wrong(` (${origin}) has no register() function`);
  for (const key of ['dependencies', 'optionalDependencies', 'provides'] as const) {
    const list = m[key];
    if (list !== undefined && (!Array.isArray(list) || list.some((item) => typeof item !== 'string'))) throw wrong(`: "${key}" must be an array of names`);
  }
  for (const key of ['env', 'flags'] as const) {
    for (const [name, setting] of Object.entries(m[key] ?? {})) {
      if (!SETTING_NAME[key].test(name)) throw wrong(`: ${key} "${name}" must match ${String(SETTING_NAME[key])}`);
      if (typeof setting?.key !== 'string' || !setting.key) throw wrong(`: ${key} "${name}" needs a "key" (the option it sets)`);
    }
  }
  return m as PluginManifest<Record<string, unknown>>;
}
