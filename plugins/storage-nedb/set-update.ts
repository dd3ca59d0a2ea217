type Doc = Record<string, unknown>;

/**
 * The row an update of only `$set` / `$unset` of top-level fields makes of `old`, as nedb's model.modify
 * makes it, or undefined when the update is of another shape (nedb's own path then runs it, and
 * refuses what it refuses).
 *
 * nedb deep-copies the whole row before it applies the modifiers and then checks every key of the
 * result; the stores here change a few fields a write (a generation's state, percent, step), so that
 * copy and check were most of an update. nedb never mutates a stored row (it replaces it, and its
 * readers get copies), so the new row may share the untouched fields' values with the old one; the
 * values set are checked as nedb checks them, and held by reference, as nedb holds them. The fields
 * keep nedb's order (the old row's, then new ones in the modifier's order), so the datafile line is the
 * same, byte for byte.
 */
export function modifiedBySet(old: Doc, update: Doc): Doc | undefined {
  let modifiers = 0;
  for (const name in update) {
    if (name !== '$set' && name !== '$unset') return undefined;
    const fields = update[name];
    if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) return undefined;
    for (const field in fields) if (field === '_id' || field.includes('.')) return undefined;
    modifiers++;
  }
  if (modifiers === 0) return undefined; // an empty update replaces the row (nedb's path)
  const next: Doc = { ...old };
  for (const name in update) {
    const fields = update[name] as Doc;
    if (name === '$set') {
      for (const field in fields) {
        const value = fields[field];
        checkKey(field, value);
        checkValue(value);
        next[field] = value;
      }
    } else for (const field in fields) delete next[field];
  }
  return next;
}

/** nedb's model.deepCopy (without its strictKeys): what an update returns, so a caller's change never reaches the row. */
export function copyOf(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || value instanceof Date) return value;
  if (Array.isArray(value)) return value.map(copyOf);
  const copy: Doc = {};
  for (const key in value) if (Object.prototype.hasOwnProperty.call(value, key)) copy[key] = copyOf((value as Doc)[key]);
  return copy;
}

/** nedb's model.checkKey: no field name beginning with `$` (but its own markers) or holding a `.`. */
function checkKey(key: string, value: unknown): void {
  if (
    key[0] === '$' &&
    !(key === '$$date' && typeof value === 'number') &&
    !(key === '$$deleted' && value === true) &&
    key !== '$$indexCreated' &&
    key !== '$$indexRemoved'
  ) {
    throw new Error('Field names cannot begin with the $ character');
  }
  if (key.includes('.')) throw new Error('Field names cannot contain a .');
}

/** nedb's model.checkObject, of one value: every key inside it, at any depth. */
function checkValue(value: unknown): void {
  if (typeof value !== 'object' || value === null) return;
  if (Array.isArray(value)) {
    for (const item of value) checkValue(item);
    return;
  }
  for (const key in value) {
    if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
    const inner = (value as Doc)[key];
    checkKey(key, inner);
    checkValue(inner);
  }
}
