import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import type { WorkflowInput } from '../../plugins/workflows/api.js';
import { WorkflowFileError } from './errors.js';
import { isPlainObject } from '../../lib/objects.js';

/**
 * Metadata the manifest may give a designated input: what /workflow-info shows, every key optional
 * (class and default always come from the graph). `type` is only needed to say a number is a float
 * when the graph default happens to be integral (`8` for cfg 8.0).
 */
export type ManifestInput = Partial<Omit<WorkflowInput, 'class' | 'default'>>;

/** `<name>.workflow.yaml` (or `.workflow.yml` / `.workflow.json`) beside `<name>.json`. */
export interface WorkflowManifest {
  alias?: string;
  description?: string;
  thumbnail?: string | null;
  /** Extra files in `<dir>/assets/` that image inputs may name. */
  files?: string[];
  /** Designated inputs, keyed "<node id>/<input name>"; an empty entry designates with no extra metadata. */
  inputs?: Record<string, ManifestInput>;
  /**
   * Run the workflow once on each backend that can run it when the backend connects or comes back
   * (plugins/warmup), so the first client does not pay the model load: `true` with the graph's
   * defaults, or `{inputs}` with values ("<node id>/<input name>" → value) for that run.
   */
  warmup?: boolean | { inputs?: Record<string, unknown> };
}

export const MANIFEST_SUFFIXES = ['.workflow.yaml', '.workflow.yml', '.workflow.json'] as const;

export const ALIAS_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$';

const manifestSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    alias: { type: 'string', pattern: ALIAS_PATTERN },
    description: { type: 'string', maxLength: 10000 },
    // pattern and maxLength only apply to strings, so null passes.
    thumbnail: { type: ['string', 'null'], pattern: '^(https?://|/)', maxLength: 2048 },
    files: {
      type: 'array',
      items: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._ -]{0,199}$' },
      uniqueItems: true,
    },
    warmup: {
      oneOf: [
        { type: 'boolean' },
        {
          type: 'object',
          additionalProperties: false,
          properties: { inputs: { type: 'object', propertyNames: { pattern: '^[^/]+/[^/]+$' } } },
        },
      ],
    },
    inputs: {
      type: 'object',
      propertyNames: { pattern: '^[^/]+/[^/]+$' },
      // `null` entries are turned into {} before validation (see parseManifest).
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          type: { enum: ['str', 'int', 'float', 'bool'] },
          title: { type: 'string', minLength: 1 },
          description: { type: 'string' },
          min: { type: 'number' },
          max: { type: 'number' },
          step: { type: 'number', exclusiveMinimum: 0 },
          options: { type: 'array', minItems: 1 },
          multiline: { type: 'boolean' },
          kind: { const: 'image' },
        },
      },
    },
  },
};

const ajv = new Ajv({ allErrors: false });
const validateManifest = ajv.compile<WorkflowManifest>(manifestSchema);

/** Parses and validates a manifest (YAML, which also reads JSON); the reason names the offending key. */
export function parseManifest(text: string, file: string): WorkflowManifest {
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (error) {
    throw new WorkflowFileError(file, `manifest is not valid YAML/JSON (${(error as Error).message.split('\n')[0]})`);
  }
  // An empty manifest file is allowed: it adds nothing.
  if (data === null || data === undefined) return {};
  // `10/image:` with nothing under it (YAML null) designates the input with no extra metadata.
  if (isPlainObject(data) && isPlainObject(data.inputs)) {
    for (const [key, value] of Object.entries(data.inputs)) if (value === null) data.inputs[key] = {};
  }
  if (!validateManifest(data)) {
    const problems = (validateManifest.errors ?? []).map((error) => {
      const where = error.instancePath ? error.instancePath.replace(/~1/g, '/').replace(/~0/g, '~') : '(top level)';
      const extra = error.keyword === 'additionalProperties' ? ` "${String(error.params.additionalProperty)}"` : '';
      return `${where} ${error.message ?? 'is invalid'}${extra}`;
    });
    throw new WorkflowFileError(file, `bad manifest: ${[...new Set(problems)].join('; ')}`);
  }
  for (const [key, meta] of Object.entries(data.inputs ?? {})) {
    if (meta && meta.min !== undefined && meta.max !== undefined && meta.min > meta.max) {
      throw new WorkflowFileError(file, `bad manifest: /inputs/${key} has min ${meta.min} greater than max ${meta.max}`);
    }
  }
  return data;
}
