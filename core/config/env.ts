import { BootError } from '../errors.js';
import type { PluginManifest } from '../plugin.js';

/**
 * One value an environment variable or a CLI flag sets, wherever it was declared: the kernel's own below,
 * each plugin's in its manifest (`env`, `flags`). Values are parsed here and a bad one is refused with a
 * sentence naming the variable or flag, so "PORT=abc" never turns into NaN further down.
 */
export interface Setting {
  /** `COMFY_BRIDGE_PORT` or `port` (a flag, without dashes). */
  name: string;
  /** Config path, e.g. ['server', 'port'] or ['plugins', 'comfyui', 'backends']. */
  path: string[];
  parse: (raw: string) => unknown;
  /** Relative values resolve against the working directory. */
  isPath: boolean;
  /** Placeholder in help. */
  value: string;
  description: string;
  /** 'kernel' or the plugin name. */
  owner: string;
  /** Several plugins may declare this name, each for its own option (PluginSetting.shared). */
  shared?: boolean;
}

export const text = (raw: string): unknown => raw;
export const wholeNumber = (raw: string): unknown => {
  if (!/^\d+$/.test(raw.trim())) throw new Error('is not a whole number');
  return Number(raw.trim());
};

type KernelSetting = Omit<Setting, 'owner' | 'isPath' | 'value'> & { isPath?: boolean; value?: string };
const kernel = (settings: KernelSetting[]): Setting[] =>
  settings.map((s) => ({ isPath: false, value: 'VALUE', ...s, owner: 'kernel' }));

/** The kernel's COMFY_BRIDGE_* variables (README and SPEC §6); plugins add theirs in their manifests. */
export const KERNEL_ENV: readonly Setting[] = kernel([
  { name: 'COMFY_BRIDGE_HOST', path: ['server', 'host'], parse: text, description: 'Interface to listen on.' },
  { name: 'COMFY_BRIDGE_PORT', path: ['server', 'port'], parse: wholeNumber, description: 'TCP port; 0 picks a free one.' },
  { name: 'COMFY_BRIDGE_PUBLIC_URL', path: ['server', 'publicUrl'], parse: text, description: 'Base of result URLs.' },
  { name: 'COMFY_BRIDGE_DATA_DIR', path: ['dataDir'], parse: text, description: 'Database, uploads and results.' },
  { name: 'COMFY_BRIDGE_LOG_LEVEL', path: ['log', 'level'], parse: text, description: 'pino log level.' },
  { name: 'COMFY_BRIDGE_LOG_FORMAT', path: ['log', 'format'], parse: text, description: 'pretty, json or auto (pretty on a terminal).' },
]);

/** The kernel's CLI flags; plugins add theirs in their manifests. */
export const KERNEL_FLAGS: readonly Setting[] = kernel([
  { name: 'host', path: ['server', 'host'], parse: text, value: 'HOST', description: 'Interface to listen on.' },
  { name: 'port', path: ['server', 'port'], parse: wholeNumber, value: 'N', description: 'TCP port; 0 picks a free one.' },
  { name: 'public-url', path: ['server', 'publicUrl'], parse: text, value: 'URL', description: 'Base of result URLs.' },
  { name: 'data-dir', path: ['dataDir'], parse: text, value: 'DIR', description: 'Database, uploads and results.' },
  { name: 'log-level', path: ['log', 'level'], parse: text, value: 'LEVEL', description: 'fatal|error|warn|info|debug|trace|silent.' },
  { name: 'log-format', path: ['log', 'format'], parse: text, value: 'FORMAT', description: 'pretty|json|auto (pretty on a terminal).' },
]);

/** Kept for the docs generator: the kernel's variables and the config key each sets. */
export const ENV_VARIABLES = KERNEL_ENV.map((s) => ({ variable: s.name, path: s.path, description: s.description }));

/** The env or flag settings the given plugin manifests declare, checked for clashes with the kernel and each other. */
export function pluginSettings(manifests: readonly PluginManifest<never>[], kind: 'env' | 'flags'): Setting[] {
  const settings: Setting[] = [...(kind === 'env' ? KERNEL_ENV : KERNEL_FLAGS)];
  for (const manifest of manifests) {
    for (const [name, declared] of Object.entries(manifest[kind] ?? {})) {
      const taken = settings.find((s) => s.name === name);
      if (taken && !(taken.shared && declared.shared)) throw new BootError(`plugin "${manifest.name}" declares ${describe(kind, name)}, which ${taken.owner === 'kernel' ? 'the kernel' : `plugin "${taken.owner}"`} already declares`);
      settings.push({
        name,
        path: ['plugins', manifest.name, ...declared.key.split('.')],
        parse: declared.parse ?? text,
        isPath: declared.path ?? false,
        value: declared.value ?? 'VALUE',
        description: declared.description,
        owner: manifest.name,
        shared: declared.shared ?? false,
      });
    }
  }
  return settings;
}

export const describe = (kind: 'env' | 'flags', name: string): string => (kind === 'env' ? name : `--${name}`);

/** Parses one raw value; the error names the variable or flag and the value. */
export function parseSetting(setting: Setting, kind: 'env' | 'flags', raw: string, cwd: string, resolvePath: (cwd: string, value: string) => string): unknown {
  let value: unknown;
  try {
    value = setting.parse(raw);
  } catch (error) {
    const where = kind === 'env' ? `${setting.name}="${raw}"` : `--${setting.name} "${raw}"`;
    throw new BootError(`${where} ${(error as Error).message}`);
  }
  return setting.isPath && typeof value === 'string' ? resolvePath(cwd, value) : value;
}

export function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

export function getPath(target: unknown, path: readonly string[]): unknown {
  let node = target;
  for (const key of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}
