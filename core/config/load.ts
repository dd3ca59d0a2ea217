import { readFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { BootError } from '../errors.js';
import { UsageError } from './usage-error.js';
import type { PluginManifest } from '../plugin.js';
import { createAjv, describeErrors } from './ajv.js';
import { describe, getPath, parseSetting, pluginSettings, setPath, KERNEL_ENV, KERNEL_FLAGS, type Setting } from './env.js';
import { knownManifests } from '../loader/resolve.js';
import { DEFAULTS_FILE, PACKAGE_ROOT } from './package-root.js';
import { applyChoices } from './choices.js';
import { kernelSchema, type BridgeConfig } from './schema.js';

const KERNEL_KEYS = kernelSchema.properties as Record<string, unknown>;

export interface ConfigSources {
  /** A config file layered over the embedded defaults (config/default.yaml of the package). */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Overlay object from code (highest precedence), e.g. the docs generator's throwaway port. */
  flags?: Record<string, unknown>;
  /** Raw CLI flags by name (`port`, `comfyui`...), parsed with the kernel's and the plugins' declarations. */
  cliFlags?: Record<string, string>;
  /** Base config used instead of the defaults and a file (tests). */
  inline?: Record<string, unknown>;
  /** Plugins given as objects (embedders, tests): their `env` and `flags` count too. */
  plugins?: readonly PluginManifest<never>[];
  cwd?: string;
}

/** Config path ("server.port") → where its value came from ("default", "file c.yaml", "env COMFY_BRIDGE_PORT", "flag --port"). */
export type Origins = Map<string, string>;

export const DEFAULT_CONFIG_FILE = DEFAULTS_FILE;

/** defaults < file < environment < CLI flags; validated; relative paths resolved; frozen. */
export async function loadConfig(sources: ConfigSources = {}): Promise<BridgeConfig> {
  return (await loadConfigWithOrigins(sources)).config;
}

/** As loadConfig, and says where every value came from (for `config check`). */
export async function loadConfigWithOrigins(sources: ConfigSources = {}): Promise<{ config: BridgeConfig; origins: Origins }> {
  const cwd = sources.cwd ?? process.cwd();
  const env = sources.env ?? {};
  const cliFlags = sources.cliFlags ?? {};
  const origins: Origins = new Map();
  let configDir = cwd;
  let merged: Record<string, unknown> = {};
  const layer = (data: Record<string, unknown>, origin: string): void => {
    merged = deepMerge(merged, data);
    recordOrigins(origins, data, origin, []);
  };

  if (sources.inline) layer(sources.inline, 'inline');
  else {
    const defaults = await readConfigFile(DEFAULTS_FILE);
    layer(defaults.data, 'default');
    if (sources.file !== undefined) {
      const file = await readConfigFile(resolve(cwd, sources.file));
      configDir = file.dir;
      layer(file.data, `file ${sources.file}`);
    }
  }

  // Plugins declare their own variables and flags: read the manifests only when something may need them.
  const pluginEnvSet = Object.keys(env).some((name) => name.startsWith('COMFY_BRIDGE_') && env[name] && !KERNEL_ENV.some((s) => s.name === name));
  const pluginFlagSet = Object.keys(cliFlags).some((name) => !KERNEL_FLAGS.some((s) => s.name === name));
  const choiceSet = Object.keys(merged).some((key) => !(key in KERNEL_KEYS));
  const manifests =
    sources.inline && !pluginEnvSet && !pluginFlagSet && !choiceSet
      ? [...(sources.plugins ?? [])]
      : [...(sources.plugins ?? []), ...(await knownManifests(pluginModulesOf(merged, configDir)))];
  const envSettings = pluginSettings(manifests, 'env');
  const flagSettings = pluginSettings(manifests, 'flags');

  // Path options of the embedded defaults (workflows: workflows) belong to the package, not to the working directory.
  for (const setting of [...envSettings, ...flagSettings]) {
    const key = setting.path.join('.');
    const value = getPath(merged, setting.path);
    if (setting.isPath && origins.get(key) === 'default' && typeof value === 'string' && !isAbsolute(value)) setPath(merged, setting.path, resolve(PACKAGE_ROOT, value));
  }

  for (const setting of envSettings) {
    const raw = env[setting.name];
    if (raw === undefined || raw === '') continue;
    layer(overlay(setting, parseSetting(setting, 'env', raw, cwd, resolve)), `env ${setting.name}`);
  }
  if (sources.flags) layer(sources.flags, 'flag');
  for (const [name, raw] of Object.entries(cliFlags)) {
    const settings = flagSettings.filter((s) => s.name === name);
    if (settings.length === 0) throw new UsageError(`unknown flag --${name}`);
    for (const setting of settings) layer(overlay(setting, parseSetting(setting, 'flags', raw, cwd, resolve)), `flag ${describe('flags', name)}`);
  }
  merged = applyChoices(merged, manifests, origins);
  return { config: finishConfig(merged, { cwd, configDir }), origins };
}

const overlay = (setting: Setting, value: unknown): Record<string, unknown> => {
  const out: Record<string, unknown> = {};
  setPath(out, setting.path, value);
  return out;
};

function pluginModulesOf(merged: Record<string, unknown>, configDir: string): string[] {
  const modules = Array.isArray(merged.pluginModules) ? (merged.pluginModules as unknown[]).filter((m): m is string => typeof m === 'string') : [];
  return modules.map((m) => resolveModule(m, configDir));
}

/** Paths (./x, ../x, /x) are relative to the config file; anything else is a package name. */
export const resolveModule = (specifier: string, configDir: string): string =>
  specifier.startsWith('.') || isAbsolute(specifier) ? resolve(configDir, specifier) : specifier;

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

/** Validates a merged config object against the kernel schema and resolves paths. */
export function finishConfig(raw: Record<string, unknown>, paths: { cwd: string; configDir: string }): BridgeConfig {
  const config = structuredClone(raw);
  const validate = createAjv().compile<BridgeConfig>(kernelSchema);
  if (!validate(config)) {
    throw new BootError(`invalid config: ${describeErrors(validate.errors)}`);
  }
  config.dataDir = resolve(paths.cwd, config.dataDir);
  config.pluginModules = config.pluginModules.map((m) => resolveModule(m, paths.configDir));
  return deepFreeze(config);
}

async function readConfigFile(path: string): Promise<{ data: Record<string, unknown>; dir: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new BootError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  let data: unknown;
  try {
    data = extname(path) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new BootError(`config file ${path} is not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}: ${(error as Error).message}`);
  }
  if (data === null || data === undefined) data = {};
  if (typeof data !== 'object' || Array.isArray(data)) throw new BootError(`config file ${path} must hold a mapping at the top`);
  return { data: data as Record<string, unknown>, dir: dirname(path) };
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Objects merge key by key; anything else (arrays included) is replaced by the later layer. */
export function deepMerge(base: Record<string, unknown>, overlay: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overlay)) {
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value;
  }
  return out;
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

const SECRET_KEY = /key|secret|token|password/i;

/** A copy safe to print: every value under a secret-looking key is replaced. */
export function redactConfig(value: unknown, key = ''): unknown {
  if (SECRET_KEY.test(key) && value !== null && value !== undefined && value !== false) return '[redacted]';
  if (Array.isArray(value)) return value.map((item) => redactConfig(item));
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactConfig(v, k)]));
  }
  return value;
}
