/** A plain object (not null, not an array): the check every parser of JSON or YAML input needs (config layering too). */
export const isPlainObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
