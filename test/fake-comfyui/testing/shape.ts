/**
 * Structural comparison of JSON values: keys and value types, recursively, ignoring the values
 * (ids, timestamps, sizes). Objects keyed by UUIDs (history) are compared as maps; lists of a
 * different length as "every element has the shape of some expected element".
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$|^my-own-prompt-id/;

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

export function shapeDiff(actual: unknown, expected: unknown, at = '$'): string[] {
  const ka = kind(actual);
  const ke = kind(expected);
  if (ka !== ke) return [`${at}: expected ${ke}, got ${ka} (${JSON.stringify(actual)?.slice(0, 80)})`];
  if (ka === 'array') {
    const a = actual as unknown[];
    const e = expected as unknown[];
    if (a.length === e.length) return a.flatMap((v, i) => shapeDiff(v, e[i], `${at}[${i}]`));
    if (e.length === 0) return [];
    return a.flatMap((v, i) => (e.some((x) => shapeDiff(v, x).length === 0) ? [] : [`${at}[${i}]: matches no expected element shape (${JSON.stringify(v)?.slice(0, 80)})`]));
  }
  if (ka === 'object') {
    const a = actual as Record<string, unknown>;
    const e = expected as Record<string, unknown>;
    const ekeys = Object.keys(e);
    // node-id keyed dicts: which output node runs first is a Python set order on the real server
    const akeys0 = Object.keys(a);
    if (ekeys.length > 0 && ekeys.every((k) => /^\d+$/.test(k)) && akeys0.every((k) => /^\d+$/.test(k)) && ekeys.join() !== akeys0.join()) {
      if (akeys0.length !== ekeys.length) return [`${at}: ${akeys0.length} node entries, expected ${ekeys.length}`];
      return akeys0.flatMap((k) => (ekeys.some((ek) => shapeDiff(a[k], e[ek]).length === 0) ? [] : shapeDiff(a[k], e[ekeys[0]], `${at}.${k}`)));
    }
    if (ekeys.length > 0 && ekeys.every((k) => UUID.test(k))) {
      const akeys = Object.keys(a);
      if (akeys.length === 0) return [`${at}: expected a non-empty map`];
      const sample = e[ekeys[0]];
      return akeys.flatMap((k) => (ekeys.some((ek) => shapeDiff(a[k], e[ek]).length === 0) ? [] : shapeDiff(a[k], sample, `${at}.${k}`)));
    }
    const out: string[] = [];
    for (const k of ekeys) if (!(k in a)) out.push(`${at}: missing key ${JSON.stringify(k)}`);
    for (const k of Object.keys(a)) if (!(k in e)) out.push(`${at}: unexpected key ${JSON.stringify(k)}`);
    for (const k of ekeys) if (k in a) out.push(...shapeDiff(a[k], e[k], `${at}.${k}`));
    return out;
  }
  return [];
}

/** The key order of every object, recursively (Python dicts keep insertion order on the wire). */
export function keyOrderDiff(actual: unknown, expected: unknown, at = '$'): string[] {
  if (kind(actual) !== 'object' || kind(expected) !== 'object') {
    if (Array.isArray(actual) && Array.isArray(expected) && actual.length === expected.length) return actual.flatMap((v, i) => keyOrderDiff(v, expected[i], `${at}[${i}]`));
    return [];
  }
  const a = actual as Record<string, unknown>;
  const e = expected as Record<string, unknown>;
  const common = Object.keys(e).filter((k) => k in a);
  const order = Object.keys(a).filter((k) => k in e);
  // node-id keyed dicts follow the output order, which is a Python set order on the real server
  const dataKeyed = common.every((k) => /^\d+$/.test(k) || UUID.test(k));
  const out = dataKeyed || common.join(',') === order.join(',') ? [] : [`${at}: key order ${order.join(',')} != ${common.join(',')}`];
  return out.concat(common.flatMap((k) => keyOrderDiff(a[k], e[k], `${at}.${k}`)));
}
