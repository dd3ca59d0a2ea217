import type { JsonSchema } from '../../core/plugin.js';
import { cell } from './escape.js';

export interface SchemaRow {
  key: string;
  type: string;
  default: string;
  description: string;
}

const typeOf = (schema: JsonSchema): string => {
  if (Array.isArray(schema.enum)) return (schema.enum as unknown[]).map((v) => JSON.stringify(v)).join(' \\| ');
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (Array.isArray(schema.type)) return (schema.type as string[]).join(' \\| ');
  if (typeof schema.type === 'string') {
    if (schema.type === 'array' && schema.items && typeof schema.items === 'object') return `${typeOf(schema.items as JsonSchema)}[]`;
    return schema.type;
  }
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as JsonSchema[]).map(typeOf).join(' \\| ');
  if (Array.isArray(schema.oneOf)) return (schema.oneOf as JsonSchema[]).map(typeOf).join(' \\| ');
  return 'any';
};

const limits = (schema: JsonSchema): string => {
  const parts: string[] = [];
  if (schema.minimum !== undefined) parts.push(`≥ ${String(schema.minimum)}`);
  if (schema.maximum !== undefined) parts.push(`≤ ${String(schema.maximum)}`);
  if (schema.minLength !== undefined) parts.push(`length ≥ ${String(schema.minLength)}`);
  if (schema.pattern !== undefined) parts.push(`pattern \`${String(schema.pattern)}\``);
  return parts.length ? ` (${parts.join(', ')})` : '';
};

/** Flattens a JSON schema's properties into rows `a.b.c` (objects descend; arrays of objects use `[]`). */
export function schemaRows(schema: JsonSchema | undefined, prefix = ''): SchemaRow[] {
  const properties = (schema?.properties ?? {}) as Record<string, JsonSchema>;
  const rows: SchemaRow[] = [];
  for (const [name, property] of Object.entries(properties)) {
    const key = prefix ? `${prefix}.${name}` : name;
    rows.push({
      key,
      type: typeOf(property) + limits(property),
      default: property.default === undefined ? '' : `\`${JSON.stringify(property.default)}\``,
      description: cell(String(property.description ?? '')),
    });
    if (property.properties) rows.push(...schemaRows(property, key));
    const items = property.items as JsonSchema | undefined;
    if (items?.properties) rows.push(...schemaRows(items, `${key}[]`));
  }
  return rows;
}

export function rowsToMarkdown(rows: SchemaRow[]): string {
  if (!rows.length) return '_No options._\n';
  return ['| key | type | default | description |', '|---|---|---|---|', ...rows.map((r) => `| \`${r.key}\` | ${r.type} | ${r.default} | ${r.description} |`)].join('\n') + '\n';
}
