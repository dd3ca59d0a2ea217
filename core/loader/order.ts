import { BootError } from '../errors.js';
import type { EnabledPlugin } from './resolve.js';

/**
 * Orders plugins so each comes after what it depends on (a dependency names a plugin or a service
 * some plugin provides). Ties keep the configured order, so the result is deterministic.
 */
export function orderPlugins(plugins: readonly EnabledPlugin[]): EnabledPlugin[] {
  const byName = new Map(plugins.map((p) => [p.manifest.name, p]));
  const providers = new Map<string, string>();
  for (const p of plugins) for (const service of p.manifest.provides ?? []) providers.set(service, p.manifest.name);

  const target = (dependency: string): string | undefined => (byName.has(dependency) ? dependency : providers.get(dependency));

  const edges = new Map<string, string[]>();
  for (const p of plugins) {
    const name = p.manifest.name;
    const required = (p.manifest.dependencies ?? []).map((dependency) => {
      const found = target(dependency);
      if (!found) {
        throw new BootError(`plugin "${name}" depends on "${dependency}", which no enabled plugin is or provides`);
      }
      return found;
    });
    const optional = (p.manifest.optionalDependencies ?? []).map(target).filter((d): d is string => d !== undefined);
    edges.set(name, [...new Set([...required, ...optional])].filter((d) => d !== name));
  }

  const ordered: EnabledPlugin[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]): void => {
    const seen = state.get(name);
    if (seen === 'done') return;
    if (seen === 'visiting') {
      const cycle = [...path.slice(path.indexOf(name)), name];
      throw new BootError(`plugin dependency cycle: ${cycle.join(' → ')}`);
    }
    state.set(name, 'visiting');
    for (const dependency of edges.get(name) ?? []) visit(dependency, [...path, name]);
    state.set(name, 'done');
    ordered.push(byName.get(name)!);
  };
  for (const p of plugins) visit(p.manifest.name, []);
  return ordered;
}
