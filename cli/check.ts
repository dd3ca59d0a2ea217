import { isPlainObject } from '../lib/objects.js';
import { resolvePlugins } from '../core/loader/resolve.js';
import { orderPlugins } from '../core/loader/order.js';
import { validateOptions } from '../core/loader/options.js';
import type { ParsedCommand } from './args.js';
import { configFrom } from './config-from.js';

/**
 * Validates the effective config and prints every value with where it came from — default (the embedded
 * config/default.yaml or a schema default), file, env or flag — secrets redacted. `--json`: the config alone.
 */
export async function checkConfig(parsed: ParsedCommand): Promise<number> {
  const { config, origins } = await configFrom(parsed);
  const plugins = orderPlugins(await resolvePlugins(config));
  const effective = redactConfig({ ...config, plugins: Object.fromEntries(plugins.map((p) => [p.manifest.name, validateOptions(p)])) });
  const disabled = Object.entries(config.plugins).filter(([, options]) => options === false).map(([name]) => name);
  if (parsed.json) process.stdout.write(`${JSON.stringify(effective, null, 2)}\n`);
  else {
    const rows = leaves(effective, []).map(([path, value]) => [path, JSON.stringify(value), originOf(origins, path)] as const);
    for (const name of disabled) rows.push([`plugins.${name}`, 'false (disabled)', originOf(origins, `plugins.${name}`)]);
    const width = Math.max(...rows.map(([path]) => path.length));
    const valueWidth = Math.min(48, Math.max(...rows.map(([, value]) => value.length)));
    process.stdout.write(rows.map(([path, value, origin]) => `${path.padEnd(width)}  ${value.padEnd(valueWidth)}  ${origin}`).join('\n') + '\n');
  }
  process.stderr.write(`config ok: ${plugins.length} plugins (${plugins.map((p) => p.manifest.name).join(', ')})\n`);
  return 0;
}

const SECRET_KEY = /key|secret|token|password/i;

/** A copy safe to print: every value under a secret-looking key is replaced. */
export function redactConfig(value: unknown, key = ''): unknown {
  if (SECRET_KEY.test(key) && value !== null && value !== undefined && value !== false) return '[redacted]';
  if (Array.isArray(value)) return value.map((item) => redactConfig(item));
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactConfig(v, k)]));
  return value;
}

/** Keys no layer names come from a schema default (`util: {}` enables util; its options are the schema's). */
const originOf = (origins: ReadonlyMap<string, string>, path: string): string => origins.get(path) ?? 'default';

function leaves(value: unknown, path: string[]): [string, unknown][] {
  if (isPlainObject(value) && Object.keys(value).length > 0) {
    return Object.entries(value).flatMap(([key, child]) => leaves(child, [...path, key]));
  }
  return [[path.join('.'), value]];
}
