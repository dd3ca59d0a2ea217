import { BootError } from '../../core/errors.js';
import type { PluginManifest } from '../../core/plugin.js';
import { isPlainObject } from '../../lib/objects.js';

type Origins = Map<string, string>;

/**
 * Applies what plugins declare about choosing between them, to the merged config before it is validated:
 * - a top-level choice (`storage: postgres`) enables the plugins whose `selectedBy` names that value and
 *   disables those that name another value of the same key; the key itself is then removed (the kernel
 *   schema knows none), and a value no plugin declares is refused;
 * - then every enabled plugin disables the plugins it `replaces` (so COMFY_BRIDGE_DATABASE_URL, which
 *   enables storage-postgres and bus-postgres, switches off storage-nedb and bus).
 * The kernel knows no plugin by name here: the keys, values and names all come from the manifests.
 */
export function applyChoices(merged: Record<string, unknown>, manifests: readonly PluginManifest<never>[], origins: Origins): Record<string, unknown> {
  const out: Record<string, unknown> = { ...merged };
  const plugins: Record<string, unknown> = isPlainObject(out.plugins) ? { ...out.plugins } : {};
  const byKey = new Map<string, Map<string, string[]>>();
  for (const manifest of manifests) {
    for (const [key, value] of Object.entries(manifest.selectedBy ?? {})) {
      const values = byKey.get(key) ?? new Map<string, string[]>();
      byKey.set(key, values);
      values.set(value, [...(values.get(value) ?? []), manifest.name]);
    }
  }

  for (const [key, values] of byKey) {
    if (!(key in out)) continue;
    const chosen = out[key];
    if (typeof chosen !== 'string' || !values.has(chosen)) {
      throw new BootError(`invalid config: ${key} must be one of ${[...values.keys()].join(', ')} (got ${JSON.stringify(chosen)})`);
    }
    for (const [value, names] of values) {
      for (const name of names) {
        if (value === chosen) {
          if (!isPlainObject(plugins[name])) plugins[name] = {};
        } else if (plugins[name] !== false) {
          plugins[name] = false;
          origins.set(`plugins.${name}`, `${key}: ${chosen}`);
        }
      }
    }
    delete out[key];
  }

  for (const manifest of manifests) {
    if (!isPlainObject(plugins[manifest.name])) continue;
    for (const replaced of manifest.replaces ?? []) {
      if (plugins[replaced] === false) continue;
      plugins[replaced] = false;
      origins.set(`plugins.${replaced}`, `replaced by ${manifest.name}`);
    }
  }
  out.plugins = plugins;
  return out;
}
