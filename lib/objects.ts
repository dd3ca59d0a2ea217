/** A plain object (not null, not an array): the check every parser of JSON or YAML input needs. The kernel's own (config layering uses it). */
export { isPlainObject } from '../core/config/objects.js';
