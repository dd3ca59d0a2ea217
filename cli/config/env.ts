import { BootError } from '../../core/errors.js';
import type { PluginManifest } from '../../core/plugin.js';

/**
 * One value an environment variable or a CLI flag sets: the kernel's below, each plugin's from its manifest
 * (`env`, `flags`). Values are parsed here and a bad one is refused naming the variable or flag, so
 * "PORT=abc" never turns into NaN further down.
 */
export interface Setting {
  name: string; // COMFY_BRIDGE_PORT, or a flag without dashes (port)
  path: string[]; // config path: ['server', 'port'], ['plugins', 'comfyui', 'backends']
  parse: (raw: string) => unknown;
  isPath: boolean; // relative values resolve against the working directory
  value: string; // placeholder in help
  description: string;
  owner: string; // 'kernel' or the plugin name
  shared?: boolean; // see PluginSetting.shared
}

export const text = (raw: string): unknown => raw;
const wholeNumber = (raw: string): unknown => {
  if (!/^\d+$/.test(raw.trim())) throw new Error('is not a whole number');
  return Number(raw.trim());
};

type Kind = 'env' | 'flags';
// [variable suffix, flag, config path, placeholder, description, flag description when it differs]
const KERNEL: [string, string, string, string, string, string?][] = [
  ['HOST', 'host', 'server.host', 'HOST', 'Interface to listen on.'],
  ['PORT', 'port', 'server.port', 'N', 'TCP port; 0 picks a free one.'],
  ['PUBLIC_URL', 'public-url', 'server.publicUrl', 'URL', 'Base of result URLs.'],
  ['DATA_DIR', 'data-dir', 'dataDir', 'DIR', 'Database, uploads and results.'],
  ['LOG_LEVEL', 'log-level', 'log.level', 'LEVEL', 'pino log level.', 'fatal|error|warn|info|debug|trace|silent.'],
  ['LOG_FORMAT', 'log-format', 'log.format', 'FORMAT', 'pretty, json or auto (pretty on a terminal).', 'pretty|json|auto (pretty on a terminal).'],
];
const kernel = (kind: Kind): Setting[] =>
  KERNEL.map(([variable, flag, path, value, description, flagDescription]) => ({
    name: kind === 'env' ? `COMFY_BRIDGE_${variable}` : flag,
    path: path.split('.'),
    parse: path === 'server.port' ? wholeNumber : text,
    isPath: false,
    value: kind === 'env' ? 'VALUE' : value,
    description: kind === 'flags' ? (flagDescription ?? description) : description,
    owner: 'kernel',
  }));

/** The kernel's COMFY_BRIDGE_* variables and flags (README, SPEC §6); plugins add theirs in their manifests. */
export const KERNEL_ENV: readonly Setting[] = kernel('env');
export const KERNEL_FLAGS: readonly Setting[] = kernel('flags');

/** The kernel's and the given plugins' settings of one kind; a name two owners declare stops the boot (unless both say `shared`). */
export function pluginSettings(manifests: readonly PluginManifest<never>[], kind: Kind): Setting[] {
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

export const describe = (kind: Kind, name: string): string => (kind === 'env' ? name : `--${name}`);

/** Parses one raw value; the error names the variable or flag and the value. */
export function parseSetting(setting: Setting, kind: Kind, raw: string, resolvePath: (value: string) => string): unknown {
  let value: unknown;
  try {
    value = setting.parse(raw);
  } catch (error) {
    throw new BootError(`${kind === 'env' ? `${setting.name}="${raw}"` : `--${setting.name} "${raw}"`} ${(error as Error).message}`);
  }
  return setting.isPath && typeof value === 'string' ? resolvePath(value) : value;
}
