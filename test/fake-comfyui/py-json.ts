/**
 * JSON text exactly as Python's `json.dumps` (default arguments) writes it, because ComfyUI's
 * websocket frames and aiohttp json_response bodies are produced that way: `", "` / `": "`
 * separators, non-ASCII escaped as \uXXXX, and floats that stay floats (`1.0`, `2.38e-07`).
 *
 * JavaScript has one number type, so a value that Python holds as a float is wrapped in PyFloat.
 * `parsePyJson` keeps that distinction when reading request bodies, so a prompt echoed back in
 * /queue or /history shows `5.0` where the client sent `5.0`.
 */

export class PyFloat {
  constructor(readonly value: number) {}
  toJSON(): number {
    return this.value;
  }
}

export type PyValue = null | boolean | number | bigint | string | PyFloat | PyValue[] | { [key: string]: PyValue };

/**
 * JS enumerates integer-like keys ("1", "10") in ascending order whatever the insertion order, but
 * Python dicts keep insertion order (node ids in progress_state, outputs, an echoed prompt). The
 * real order rides along in this symbol, which Object.entries and JSON.stringify ignore.
 */
export const KEY_ORDER = Symbol('pyKeyOrder');

type Ordered = Record<string, unknown> & { [KEY_ORDER]?: string[] };

/** A dict that serializes its keys in the given order. */
export function pyDict<T>(entries: Iterable<[string, T]>): Record<string, T> {
  const list = [...entries];
  const obj = Object.fromEntries(list) as Record<string, T> & { [KEY_ORDER]?: string[] };
  const order = [...new Set(list.map(([k]) => k))];
  if (order.join('\u0000') !== Object.keys(obj).join('\u0000')) obj[KEY_ORDER] = order;
  return obj;
}

/** The keys of a parsed/pyDict object in Python (insertion) order. */
export function pyKeys(obj: object): string[] {
  return orderedKeys(obj as Ordered);
}

function orderedKeys(obj: Ordered): string[] {
  const keys = Object.keys(obj);
  const order = obj[KEY_ORDER];
  if (!order) return keys;
  const present = new Set(keys);
  const first = order.filter((k) => present.has(k));
  const seen = new Set(first);
  return [...first, ...keys.filter((k) => !seen.has(k))];
}

/** Python's repr() of a float: shortest round-trip digits, scientific below 1e-4 or from 1e16. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, expText] = x.toExponential().split('e');
  const exp = Number(expText);
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  const sign = negative ? '-' : '';
  if (exp < -4 || exp >= 16) {
    const body = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const expAbs = Math.abs(exp).toString().padStart(2, '0');
    return `${sign}${body}e${exp < 0 ? '-' : '+'}${expAbs}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
  const fracPart = digits.slice(exp + 1);
  return `${sign}${intPart}.${fracPart.length > 0 ? fracPart : '0'}`;
}

function pyString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s[i];
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (c < 0x20 || c > 0x7e) out += '\\u' + c.toString(16).padStart(4, '0');
    else out += ch;
  }
  return out + '"';
}

/** Serializes like Python `json.dumps(value)`. Integer-valued JS numbers print as ints. */
export function pyDumps(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (value instanceof PyFloat) return pyFloatRepr(value.value);
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return Number.isInteger(value) ? String(value) : pyFloatRepr(value);
    case 'bigint':
      return value.toString();
    case 'string':
      return pyString(value);
    case 'object': {
      if (Array.isArray(value)) return '[' + value.map((v) => pyDumps(v)).join(', ') + ']';
      const parts: string[] = [];
      const obj = value as Ordered;
      for (const k of orderedKeys(obj)) {
        const v = obj[k];
        if (v === undefined) continue;
        parts.push(`${pyString(k)}: ${pyDumps(v)}`);
      }
      return '{' + parts.join(', ') + '}';
    }
    default:
      return 'null';
  }
}

/** Replaces PyFloat wrappers by plain numbers (for code that computes with the values). */
export function plain<T = unknown>(value: unknown): T {
  return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))) as T;
}

/** Python repr() of a JSON-like value (dicts with single quotes), as str(dict) in error payloads. */
export function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value instanceof PyFloat) return pyFloatRepr(value.value);
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : pyFloatRepr(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string') {
    const q = value.includes("'") && !value.includes('"') ? '"' : "'";
    return q + value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(new RegExp(q, 'g'), '\\' + q) + q;
  }
  if (Array.isArray(value)) return '[' + value.map(pyRepr).join(', ') + ']';
  if (typeof value === 'object') return '{' + orderedKeys(value as Ordered).map((k) => `${pyRepr(k)}: ${pyRepr((value as Ordered)[k])}`).join(', ') + '}';
  return String(value);
}

/**
 * A strict JSON parser that returns PyFloat for number literals with a fraction or exponent,
 * as Python's json.loads would produce a float. Throws SyntaxError on bad input.
 */
export function parsePyJson(text: string): PyValue {
  let i = 0;
  const fail = (): never => {
    throw new SyntaxError(`Invalid JSON at position ${i}`);
  };
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const value = (): PyValue => {
    ws();
    const ch = text[i];
    if (ch === '{') {
      i++;
      const entries: [string, PyValue][] = [];
      ws();
      if (text[i] === '}') {
        i++;
        return {};
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        const key = str();
        ws();
        if (text[i] !== ':') fail();
        i++;
        entries.push([key, value()]);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return pyDict(entries);
        }
        fail();
      }
    }
    if (ch === '[') {
      i++;
      const arr: PyValue[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return arr;
        }
        fail();
      }
    }
    if (ch === '"') return str();
    if (text.startsWith('true', i)) {
      i += 4;
      return true;
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return false;
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return null;
    }
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) return fail();
    i += m[0].length;
    const n = Number(m[0]);
    return m[2] !== undefined || m[3] !== undefined ? new PyFloat(n) : n;
  };
  const str = (): string => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') i++;
      i++;
    }
    if (i >= text.length) fail();
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const result = value();
  ws();
  if (i !== text.length) fail();
  return result;
}
