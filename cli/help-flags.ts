import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { KERNEL_FLAGS, pluginSettings, text, type Setting } from './config/env.js';
import { PACKAGE_ROOT } from './config/package-root.js';
import type { PluginManifest, PluginSetting } from '../core/plugin.js';
import type { ParsedCommand } from './args.js';

interface Snapshot {
  kind: 'env' | 'flags';
  name: string;
  owner: string;
  key: string;
  value: string;
  description: string;
}

/**
 * The flags `<command> --help` lists: the kernel's, the built-in plugins' (from the snapshot the build
 * writes, dist/plugin-settings.json, so help never imports the server; read from the manifests when running
 * from sources) and those of the config file's pluginModules.
 */
export async function helpFlags(parsed: ParsedCommand): Promise<Setting[]> {
  // The config file's modules only when one is named: reading a config loads ajv, which help can do without.
  const modules = parsed.configFile === undefined ? [] : await (await import('./config-from.js')).configuredPluginModules(parsed);
  const snapshot = join(PACKAGE_ROOT, 'dist', 'plugin-settings.json');
  if (!existsSync(snapshot) || !import.meta.url.includes('/dist/')) {
    const { knownManifests } = await import('../core/loader/resolve.js');
    return pluginSettings(await knownManifests(modules), 'flags');
  }
  const builtIn: Setting[] = (JSON.parse(readFileSync(snapshot, 'utf8')) as Snapshot[])
    .filter((s) => s.kind === 'flags')
    .map((s) => ({ name: s.name, path: ['plugins', s.owner, ...s.key.split('.')], parse: text, isPath: false, value: s.value, description: s.description, owner: s.owner }));
  const extra = modules.length ? pluginSettings(await knownManifestsOf(modules), 'flags').filter((s) => s.owner !== 'kernel') : [];
  return [...KERNEL_FLAGS, ...builtIn, ...extra];
}

async function knownManifestsOf(modules: string[]): Promise<PluginManifest<never>[]> {
  const manifests: PluginManifest<never>[] = [];
  for (const specifier of modules) {
    const imported = (await import(isAbsolute(specifier) ? pathToFileURL(specifier).href : specifier)) as { default?: { name?: string; flags?: Record<string, PluginSetting> } };
    if (imported.default?.flags) manifests.push(imported.default as PluginManifest<never>);
  }
  return manifests;
}
