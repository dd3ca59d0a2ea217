import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { BootError } from '../../core/errors.js';
import type { PluginManifest } from '../../core/plugin.js';
import { knownManifests } from '../../core/loader/resolve.js';
import { finishConfig, kernelSchema, resolveModule, type BridgeConfig } from '../../core/config/schema.js';
import { isPlainObject } from '../../lib/objects.js';
import { UsageError } from '../usage-error.js';
import { describe, parseSetting, pluginSettings, KERNEL_ENV, KERNEL_FLAGS } from './env.js';
import { DEFAULTS_FILE, PACKAGE_ROOT } from './package-root.js';
import { applyChoices } from './choices.js';
import { atPath, deepMerge, getPath } from './objects.js';

/**
 * `file` layers over the embedded defaults; `inline` replaces both (tests); `flags` is an object from code over the
 * environment; `cliFlags` are raw flags by name; `plugins` given as objects declare env and flags too.
 */
export interface ConfigSources {
  file?: string;
  env?: NodeJS.ProcessEnv;
  flags?: Record<string, unknown>;
  cliFlags?: Record<string, string>;
  inline?: Record<string, unknown>;
  plugins?: readonly PluginManifest<never>[];
  cwd?: string;
}

/** Config path ("server.port") → where its value came from ("default", "file c.yaml", "env COMFY_BRIDGE_PORT", "flag --port"). */
export type Origins = Map<string, string>;

/**
 * Assembles the config a launcher hands to createApp: defaults < file < environment < CLI flags, plugins' choices
 * applied, then finished by the kernel (validated, relative paths resolved, frozen).
 */
export async function loadConfig(sources: ConfigSources = {}): Promise<BridgeConfig> {
  return (await loadConfigWithOrigins(sources)).config;
}

/** As loadConfig, and says where every value came from (for `config check`). */
export async function loadConfigWithOrigins(sources: ConfigSources = {}): Promise<{ config: BridgeConfig; origins: Origins }> {
  const { cwd = process.cwd(), env = {}, cliFlags = {} } = sources;
  const origins: Origins = new Map();
  let configDir = cwd;
  let merged: Record<string, unknown> = {};
  const layer = (data: Record<string, unknown>, origin: string): void => {
    merged = deepMerge(merged, data);
    recordOrigins(origins, data, origin, []);
  };

  if (sources.inline) layer(sources.inline, 'inline');
  else {
    layer((await readConfigFile(DEFAULTS_FILE)).data, 'default');
    if (sources.file !== undefined) {
      const file = await readConfigFile(resolve(cwd, sources.file));
      configDir = file.dir;
      layer(file.data, `file ${sources.file}`);
    }
  }

  // Plugins declare their own variables and flags: read the manifests only when something may need them.
  const pluginEnvSet = Object.keys(env).some((name) => name.startsWith('COMFY_BRIDGE_') && env[name] && !KERNEL_ENV.some((s) => s.name === name));
  const pluginFlagSet = Object.keys(cliFlags).some((name) => !KERNEL_FLAGS.some((s) => s.name === name));
  const choiceSet = Object.keys(merged).some((key) => !(key in kernelSchema.properties));
  const manifests = [...(sources.plugins ?? [])];
  if (!sources.inline || pluginEnvSet || pluginFlagSet || choiceSet) manifests.push(...(await knownManifests(pluginModulesOf(merged, configDir), builtInsNeeded(merged, env, cliFlags))));
  const envSettings = pluginSettings(manifests, 'env');
  const flagSettings = pluginSettings(manifests, 'flags');

  // Path options of the embedded defaults (workflows: workflows) belong to the package, not to the working directory.
  for (const { isPath, path } of [...envSettings, ...flagSettings]) {
    const value = getPath(merged, path);
    if (isPath && origins.get(path.join('.')) === 'default' && typeof value === 'string' && !isAbsolute(value)) merged = deepMerge(merged, atPath(path, resolve(PACKAGE_ROOT, value)));
  }

  const fromCwd = (value: string): string => resolve(cwd, value);
  for (const setting of envSettings) {
    const raw = env[setting.name];
    if (raw) layer(atPath(setting.path, parseSetting(setting, 'env', raw, fromCwd)), `env ${setting.name}`);
  }
  if (sources.flags) layer(sources.flags, 'flag');
  for (const [name, raw] of Object.entries(cliFlags)) {
    const settings = flagSettings.filter((s) => s.name === name);
    if (settings.length === 0) throw new UsageError(`unknown flag --${name}`);
    for (const setting of settings) layer(atPath(setting.path, parseSetting(setting, 'flags', raw, fromCwd)), `flag ${describe('flags', name)}`);
  }
  return { config: finishConfig(applyChoices(merged, manifests, origins), { cwd, configDir }), origins };
}

/**
 * The built-in plugins this config can need — enabled in it, or declaring a variable that is set, a flag that is
 * given or a choice key (`storage`) it holds — from the build's snapshot of the declarations (dist/plugin-settings.json,
 * beside the compiled code). Undefined (every folder) when running the sources, which have no snapshot: importing the
 * plugins a start disables cost it their modules (pg on nedb).
 */
function builtInsNeeded(merged: Record<string, unknown>, env: NodeJS.ProcessEnv, cliFlags: Record<string, string>): Set<string> | undefined {
  const snapshot = new URL('../../plugin-settings.json', import.meta.url);
  if (!existsSync(snapshot)) return undefined;
  const needed = new Set(Object.entries(isPlainObject(merged.plugins) ? merged.plugins : {}).flatMap(([name, options]) => (options === false ? [] : [name])));
  for (const s of JSON.parse(readFileSync(snapshot, 'utf8')) as { kind: string; name: string; owner: string }[]) {
    if ((s.kind === 'env' && env[s.name]) || (s.kind === 'flags' && s.name in cliFlags) || (s.kind === 'choice' && s.name in merged)) needed.add(s.owner);
  }
  return needed;
}

function pluginModulesOf(merged: Record<string, unknown>, configDir: string): string[] {
  const modules = Array.isArray(merged.pluginModules) ? (merged.pluginModules as unknown[]).filter((m): m is string => typeof m === 'string') : [];
  return modules.map((m) => resolveModule(m, configDir));
}

/** Leaves of a layer overwrite the origin of that path; a leaf over an object drops the origins below it. */
function recordOrigins(origins: Origins, data: Record<string, unknown>, origin: string, prefix: string[]): void {
  for (const [key, value] of Object.entries(data)) {
    const path = [...prefix, key].join('.');
    if (isPlainObject(value) && Object.keys(value).length > 0) {
      origins.delete(path);
      recordOrigins(origins, value, origin, [...prefix, key]);
      continue;
    }
    for (const known of [...origins.keys()]) if (known.startsWith(`${path}.`)) origins.delete(known);
    origins.set(path, origin);
  }
}

async function readConfigFile(path: string): Promise<{ data: Record<string, unknown>; dir: string }> {
  const json = extname(path) === '.json';
  const text = await readFile(path, 'utf8').catch((error: Error) => {
    throw new BootError(`cannot read config file ${path}: ${error.message}`);
  });
  let data: unknown;
  try {
    data = (json ? JSON.parse(text) : parseYaml(text)) ?? {};
  } catch (error) {
    throw new BootError(`config file ${path} is not valid ${json ? 'JSON' : 'YAML'}: ${(error as Error).message}`);
  }
  if (!isPlainObject(data)) throw new BootError(`config file ${path} must hold a mapping at the top`);
  return { data, dir: dirname(path) };
}
