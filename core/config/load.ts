import { readFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { BootError } from '../errors.js';
import { createAjv, describeErrors } from './ajv.js';
import { configFromEnv } from './env.js';
import { kernelSchema, type BridgeConfig } from './schema.js';

export interface ConfigSources {
  /** Config file path; undefined = config/default.yaml under `cwd` when it exists. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Overlay from CLI flags (highest precedence). */
  flags?: Record<string, unknown>;
  /** Base config used instead of a file (tests). */
  inline?: Record<string, unknown>;
  cwd?: string;
}

export const DEFAULT_CONFIG_FILE = 'config/default.yaml';

/** defaults < file < environment < CLI flags; validated; relative paths resolved; frozen. */
export async function loadConfig(sources: ConfigSources = {}): Promise<BridgeConfig> {
  const cwd = sources.cwd ?? process.cwd();
  const fromFile = sources.inline ? { data: sources.inline, dir: cwd } : await readConfigFile(sources.file, cwd);
  const layers = [fromFile.data, configFromEnv(sources.env ?? {}), sources.flags ?? {}];
  const merged = layers.reduce<Record<string, unknown>>((acc, layer) => deepMerge(acc, layer), {});
  return finishConfig(merged, { cwd, configDir: fromFile.dir });
}

/** Validates a merged config object against the kernel schema and resolves paths. */
export function finishConfig(raw: Record<string, unknown>, paths: { cwd: string; configDir: string }): BridgeConfig {
  const config = structuredClone(raw);
  const validate = createAjv().compile<BridgeConfig>(kernelSchema);
  if (!validate(config)) {
    throw new BootError(`invalid config: ${describeErrors(validate.errors)}`);
  }
  config.dataDir = resolve(paths.cwd, config.dataDir);
  config.pluginModules = config.pluginModules.map((m) => (m.startsWith('.') || isAbsolute(m) ? resolve(paths.configDir, m) : m));
  return deepFreeze(config);
}

async function readConfigFile(file: string | undefined, cwd: string): Promise<{ data: Record<string, unknown>; dir: string }> {
  const path = resolve(cwd, file ?? DEFAULT_CONFIG_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (file === undefined && (error as NodeJS.ErrnoException).code === 'ENOENT') return { data: {}, dir: cwd };
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
