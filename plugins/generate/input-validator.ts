import type { ErrorObject, ValidateFunction } from 'ajv';
import { createAjv } from '../../core/config/ajv.js';
import type { InputType, WorkflowInput } from '../../plugins/workflows/api.js';

const JSON_TYPES: Record<InputType, string> = { str: 'string', int: 'integer', float: 'number', bool: 'boolean' };

/** The JSON schema of a workflow's flat input object: one property per designated input, nothing else. */
export function inputsSchema(inputs: Record<string, WorkflowInput>): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const [key, input] of Object.entries(inputs)) {
    const property: Record<string, unknown> = { type: JSON_TYPES[input.type] };
    if (input.options !== undefined) property.enum = input.options;
    if (input.min !== undefined && input.type !== 'str' && input.type !== 'bool') property.minimum = input.min;
    if (input.max !== undefined && input.type !== 'str' && input.type !== 'bool') property.maximum = input.max;
    properties[key] = property;
  }
  return { type: 'object', additionalProperties: false, properties };
}

/** JSON pointer segment back to the input key ("6~1text" → "6/text"). */
const keyOf = (error: ErrorObject): string =>
  error.instancePath.replace(/^\//, '').replace(/~1/g, '/').replace(/~0/g, '~');

/** One sentence naming every offending key: unknown keys first, then wrong values. */
export function describeInputErrors(errors: ErrorObject[] | null | undefined, alias: string, known: string[]): string {
  const unknown: string[] = [];
  const wrong: string[] = [];
  for (const error of errors ?? []) {
    const params = error.params as Record<string, unknown>;
    if (error.keyword === 'additionalProperties') {
      unknown.push(JSON.stringify(String(params.additionalProperty)));
      continue;
    }
    const key = JSON.stringify(keyOf(error));
    if (error.keyword === 'enum') wrong.push(`${key} must be one of ${JSON.stringify(params.allowedValues)}`);
    else wrong.push(`${key} ${error.message ?? 'is invalid'}`);
  }
  const parts: string[] = [];
  if (unknown.length > 0) {
    const designated = known.length > 0 ? known.map((key) => JSON.stringify(key)).join(', ') : 'none';
    parts.push(`${unknown.join(', ')} ${unknown.length === 1 ? 'is not an input' : 'are not inputs'} of workflow "${alias}" (its inputs: ${designated})`);
  }
  parts.push(...wrong);
  return parts.join('; ');
}

/**
 * Compiled validators, one per workflow version: the key is the described inputs themselves, so a
 * reloaded workflow or newly learnt /object_info constraints compile once more, and nothing else does.
 */
export class InputValidators {
  readonly #ajv = createAjv({ useDefaults: false, coerceTypes: false });
  readonly #cache = new Map<string, { version: string; schema: object; validate: ValidateFunction }>();

  for(alias: string, inputs: Record<string, WorkflowInput>): ValidateFunction {
    const version = JSON.stringify(inputs);
    const cached = this.#cache.get(alias);
    if (cached?.version === version) return cached.validate;
    // ajv keeps every compiled schema; drop the superseded one so reloads do not accumulate.
    if (cached) this.#ajv.removeSchema(cached.schema);
    const schema = inputsSchema(inputs);
    const validate = this.#ajv.compile(schema);
    this.#cache.set(alias, { version, schema, validate });
    return validate;
  }
}
