import { BootError } from '../errors.js';
import { compile, createAjv, describeErrors } from '../config/ajv.js';
import { deepFreeze } from '../config/objects.js';
import type { EnabledPlugin } from './resolve.js';

const ajv = createAjv();

/** Applies defaults and validates a plugin's options against its schema; the message names plugin and key. */
export function validateOptions(plugin: EnabledPlugin): Record<string, unknown> {
  const { manifest } = plugin;
  const options = structuredClone(plugin.options);
  if (manifest.options) {
    let validate;
    try {
      validate = compile(ajv, manifest.options);
    } catch (error) {
      throw new BootError(`plugin "${manifest.name}" has an invalid options schema: ${(error as Error).message}`);
    }
    if (!validate(options)) {
      throw new BootError(`invalid options for plugin "${manifest.name}": ${describeErrors(validate.errors, `plugins.${manifest.name}`)}`);
    }
  }
  return deepFreeze(options);
}
