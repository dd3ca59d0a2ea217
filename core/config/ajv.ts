import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS; its default export arrives wrapped under ESM interop.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

// ajv's code generation was a fifth of a start: compile() takes the build's validator (scripts/build.mjs) of the same schema text (createAjv's defaults only).
const built: Map<string, ValidateFunction> = await import(new URL('../../validators.js', import.meta.url).href).then((m: { validators: Map<string, ValidateFunction> }) => m.validators, () => new Map());
export const compile = <T>(ajv: Ajv, schema: object): ValidateFunction<T> => (built.get(JSON.stringify(schema)) as ValidateFunction<T> | undefined) ?? ajv.compile<T>(schema);

export function createAjv(options: Options = {}): Ajv {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, ...options });
  addFormats(ajv);
  return ajv;
}

/** "server.port must be integer"-style sentences, one per error, naming the offending key. */
export function describeErrors(errors: ErrorObject[] | null | undefined, prefix = ''): string {
  return (errors ?? [])
    .map((error) => {
      const path = error.instancePath.replace(/^\//, '').replace(/\//g, '.');
      const extra = error.params as Record<string, unknown>;
      const key = [prefix, path].filter(Boolean).join('.');
      if (error.keyword === 'additionalProperties') {
        return `${[key, String(extra.additionalProperty)].filter(Boolean).join('.')} is not a known key`;
      }
      if (error.keyword === 'required') {
        return `${[key, String(extra.missingProperty)].filter(Boolean).join('.')} is required`;
      }
      if (error.keyword === 'enum') {
        return `${key || 'value'} must be one of ${JSON.stringify(extra.allowedValues)}`;
      }
      return `${key || 'value'} ${error.message ?? 'is invalid'}`;
    })
    .join('; ');
}
