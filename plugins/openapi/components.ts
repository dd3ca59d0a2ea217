import type { JsonSchema } from '../../core/plugin.js';
import { isPlainObject as isObject } from '../../lib/objects.js';

const NAME = /^[A-Za-z][A-Za-z0-9._-]*$/;

/**
 * Named schemas of the document. A response schema with a `title` (a valid component name) is kept
 * once under that name and referenced with `$ref` wherever it appears, nested ones included; two
 * different schemas with one title stay inline rather than one silently replacing the other.
 */
export class Components {
  readonly #named = new Map<string, { source: string; schema: JsonSchema }>();

  /** Registers a titled schema; answers its $ref, or undefined when it cannot be named. */
  add(schema: JsonSchema): { $ref: string } | undefined {
    const title = schema.title;
    if (typeof title !== 'string' || !NAME.test(title)) return undefined;
    const source = JSON.stringify(schema);
    const existing = this.#named.get(title);
    if (existing && existing.source !== source) return undefined;
    if (!existing) {
      // Reserve the name first: a schema that contains itself (by title) must not recurse forever.
      this.#named.set(title, { source, schema: {} });
      this.#named.set(title, { source, schema: this.#inner(schema) });
    }
    return { $ref: `#/components/schemas/${title}` };
  }

  /** The schema with every titled part replaced by a reference. */
  refer(schema: JsonSchema): JsonSchema {
    return this.add(schema) ?? this.#inner(schema);
  }

  schemas(): Record<string, JsonSchema> {
    return Object.fromEntries([...this.#named].map(([name, { schema }]) => [name, schema]));
  }

  #inner(schema: JsonSchema): JsonSchema {
    const out: JsonSchema = {};
    for (const [key, value] of Object.entries(schema)) {
      if (key === 'properties' && isObject(value)) {
        out[key] = Object.fromEntries(Object.entries(value).map(([name, property]) => [name, isObject(property) ? this.refer(property) : property]));
      } else if ((key === 'items' || key === 'additionalProperties') && isObject(value)) {
        out[key] = this.refer(value);
      } else if ((key === 'oneOf' || key === 'anyOf' || key === 'allOf') && Array.isArray(value)) {
        out[key] = value.map((item: unknown) => (isObject(item) ? this.refer(item) : item));
      } else {
        out[key] = value;
      }
    }
    return out;
  }
}

