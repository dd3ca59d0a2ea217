import { NODE_CLASSES } from './node-registry.js';
import type { NodeDef, NodeEnv } from './node-types.js';
import { PyFloat, plain, pyDict, pyFloatRepr, pyKeys, pyRepr, type PyValue } from './py-json.js';

/**
 * execution.validate_prompt / validate_inputs of ComfyUI 0.3.64, with the same error objects.
 * It converts constant inputs in place (INT → int, FLOAT → float, …) as the real one does, so the
 * queued prompt and /history show the converted values.
 */

export type RawNode = { class_type?: PyValue; inputs?: Record<string, PyValue> } & Record<string, PyValue>;
export type RawPrompt = Record<string, RawNode>;

export interface ValidationError {
  type: string;
  message: string;
  details: string;
  extra_info: Record<string, PyValue>;
}

export interface NodeErrors {
  [nodeId: string]: { errors: ValidationError[]; dependent_outputs: string[]; class_type: PyValue };
}

export type ValidationResult =
  | { ok: true; outputs: string[]; nodeErrors: NodeErrors }
  | { ok: false; error: ValidationError; nodeErrors: NodeErrors };

type Validated = Map<string, { valid: boolean; errors: ValidationError[] }>;

class PyException extends Error {
  constructor(
    readonly pyType: string,
    message: string,
    readonly traceback: string[],
  ) {
    super(message);
  }
}

const num = (v: PyValue): number | null => (v instanceof PyFloat ? v.value : typeof v === 'number' ? v : null);
const fmt = (v: PyValue): string => (v instanceof PyFloat ? pyFloatRepr(v.value) : typeof v === 'string' ? v : pyRepr(plain(v)));
const pyTypeName = (v: PyValue): string =>
  v === null ? 'NoneType' : Array.isArray(v) ? 'list' : v instanceof PyFloat ? 'float' : typeof v === 'object' ? 'dict' : typeof v === 'boolean' ? 'bool' : typeof v === 'string' ? 'str' : 'int';

function toInt(v: PyValue): number {
  if (typeof v === 'boolean') return v ? 1 : 0;
  const n = num(v);
  if (n !== null) return Math.trunc(n);
  if (typeof v === 'string') {
    if (/^\s*[+-]?\d+\s*$/.test(v)) return Number.parseInt(v, 10);
    throw new Error(`invalid literal for int() with base 10: ${pyRepr(v)}`);
  }
  throw new Error(`int() argument must be a string, a bytes-like object or a real number, not '${pyTypeName(v)}'`);
}

function toFloat(v: PyValue): PyFloat {
  if (typeof v === 'boolean') return new PyFloat(v ? 1 : 0);
  const n = num(v);
  if (n !== null) return new PyFloat(n);
  if (typeof v === 'string') {
    const t = v.trim();
    if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t) || /^[+-]?(inf|infinity|nan)$/i.test(t)) return new PyFloat(Number(t.replace(/inf(inity)?/i, 'Infinity')));
    throw new Error(`could not convert string to float: ${pyRepr(v)}`);
  }
  throw new Error(`float() argument must be a string or a real number, not '${pyTypeName(v)}'`);
}

function toStr(v: PyValue): string {
  return typeof v === 'string' ? v : v instanceof PyFloat ? pyFloatRepr(v.value) : pyRepr(plain(v));
}

function toBool(v: PyValue): boolean {
  if (v === null) return false;
  if (typeof v === 'string') return v.length > 0;
  if (Array.isArray(v)) return v.length > 0;
  const n = num(v);
  if (n !== null) return n !== 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return Boolean(v);
}

/** validate_node_input: "*" matches anything; "A,B" unions. */
function typesMatch(received: string, expected: PyValue): boolean {
  if (typeof expected !== 'string') return false;
  if (received === '*' || expected === '*' || received === expected) return true;
  const r = new Set(received.split(','));
  return expected.split(',').some((t) => r.has(t));
}

interface InputSpec {
  name: string;
  category: 'required' | 'optional';
  type: PyValue;
  extra: Record<string, PyValue>;
  config: PyValue[];
}

function inputSpecs(def: NodeDef, env: NodeEnv): InputSpec[] {
  const input = def.info(env).input as Record<string, Record<string, PyValue[]>>;
  const specs: InputSpec[] = [];
  for (const category of ['required', 'optional'] as const) {
    for (const [name, config] of Object.entries(input[category] ?? {})) {
      const extra = (config[1] ?? {}) as Record<string, PyValue>;
      specs.push({ name, category, type: config[0], extra, config: [config[0], extra] });
    }
  }
  return specs;
}

function validateInputs(prompt: RawPrompt, nodeId: string, validated: Validated, env: NodeEnv): boolean {
  const seen = validated.get(nodeId);
  if (seen) return seen.valid;
  const node = prompt[nodeId];
  const def = NODE_CLASSES.get(String(node.class_type));
  if (!def) throw new PyException('KeyError', pyRepr(node.class_type), []);
  const inputs = (node.inputs ?? {}) as Record<string, PyValue>;
  const errors: ValidationError[] = [];
  let valid = true;
  const customChecked = new Set(def.validate?.inputs ?? []);

  for (const spec of inputSpecs(def, env)) {
    const x = spec.name;
    if (!(x in inputs)) {
      if (spec.category === 'required') {
        errors.push({ type: 'required_input_missing', message: 'Required input is missing', details: x, extra_info: { input_name: x } });
      }
      continue;
    }
    let val = inputs[x];
    if (Array.isArray(val)) {
      if (val.length !== 2) {
        errors.push({ type: 'bad_linked_input', message: 'Bad linked input, must be a length-2 list of [node_id, slot_index]', details: x, extra_info: { input_name: x, input_config: spec.config, received_value: val } });
        continue;
      }
      const fromId = val[0];
      const from = typeof fromId === 'string' ? prompt[fromId] : undefined;
      if (!from) {
        throw new PyException('KeyError', pyRepr(plain(fromId)), [
          '  File "/opt/ComfyUI/execution.py", line 1010, in validate_prompt\n    m = await validate_inputs(prompt_id, prompt, o, validated)\n        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n',
          "  File \"/opt/ComfyUI/execution.py\", line 788, in validate_inputs\n    o_class_type = prompt[o_id]['class_type']\n                   ~~~~~~^^^^^^\n",
        ]);
      }
      const fromDef = NODE_CLASSES.get(String(from.class_type));
      const slot = num(val[1]);
      if (!fromDef || slot === null) throw new PyException('TypeError', 'tuple indices must be integers or slices, not ' + pyTypeName(val[1]), []);
      const receivedType = fromDef.returnTypes[slot];
      if (receivedType === undefined) throw new PyException('IndexError', 'tuple index out of range', []);
      if (!typesMatch(receivedType, spec.type)) {
        errors.push({
          type: 'return_type_mismatch',
          message: 'Return type mismatch between linked nodes',
          details: `${x}, received_type(${receivedType}) mismatch input_type(${fmt(spec.type)})`,
          extra_info: { input_name: x, input_config: spec.config, received_type: receivedType, linked_node: val },
        });
        continue;
      }
      if (!validateInputs(prompt, fromId as string, validated, env)) valid = false;
      continue;
    }

    const type = spec.type;
    try {
      if (type === 'INT') val = toInt(val);
      else if (type === 'FLOAT') val = toFloat(val);
      else if (type === 'STRING') val = toStr(val);
      else if (type === 'BOOLEAN') val = toBool(val);
      inputs[x] = val;
    } catch (err) {
      const msg = (err as Error).message;
      errors.push({
        type: 'invalid_input_type',
        message: `Failed to convert an input value to a ${fmt(type)} value`,
        details: `${x}, ${fmt(val)}, ${msg}`,
        extra_info: { input_name: x, input_config: spec.config, received_value: val, exception_message: msg },
      });
      continue;
    }
    if (customChecked.has(x)) continue;
    const n = num(val);
    const min = num(spec.extra.min ?? null) ?? (typeof spec.extra.min === 'bigint' ? Number(spec.extra.min) : null);
    const max = num(spec.extra.max ?? null) ?? (typeof spec.extra.max === 'bigint' ? Number(spec.extra.max) : null);
    if (n !== null && min !== null && n < min) {
      errors.push({ type: 'value_smaller_than_min', message: `Value ${fmt(val)} smaller than min of ${fmt(spec.extra.min)}`, details: x, extra_info: { input_name: x, input_config: spec.config, received_value: val } });
      continue;
    }
    if (n !== null && max !== null && n > max) {
      errors.push({ type: 'value_bigger_than_max', message: `Value ${fmt(val)} bigger than max of ${fmt(spec.extra.max)}`, details: x, extra_info: { input_name: x, input_config: spec.config, received_value: val } });
      continue;
    }
    const options = Array.isArray(type) ? type : type === 'COMBO' ? ((spec.extra.options as PyValue[]) ?? []) : null;
    if (options && !options.some((o) => o === val)) {
      const big = options.length > 20;
      errors.push({
        type: 'value_not_in_list',
        message: 'Value not in list',
        details: `${x}: '${fmt(val)}' not in ${big ? `(list of length ${options.length})` : pyRepr(plain(options))}`,
        extra_info: { input_name: x, input_config: big ? null : spec.config, received_value: val },
      });
      continue;
    }
  }

  if (def.validate && errors.length === 0) {
    const result = def.validate.check(plain(inputs), env);
    if (result !== true) {
      for (const x of def.validate.inputs) {
        errors.push({ type: 'custom_validation_failed', message: 'Custom validation failed for node', details: `${x} - ${result}`, extra_info: { input_name: x } });
      }
    }
  }

  const ok = errors.length === 0 && valid;
  validated.set(nodeId, { valid: ok, errors });
  return ok;
}

const invalidPrompt = (message: string, nodeId: string): ValidationResult => ({
  ok: false,
  error: { type: 'invalid_prompt', message, details: `Node ID '#${nodeId}'`, extra_info: {} },
  nodeErrors: {},
});

export function validatePrompt(prompt: RawPrompt, partialTargets: PyValue[] | null, env: NodeEnv): ValidationResult {
  const outputs: string[] = [];
  for (const id of pyKeys(prompt)) {
    const node = prompt[id];
    if (node === null || typeof node !== 'object' || !('class_type' in node)) return invalidPrompt('Cannot execute because a node is missing the class_type property.', id);
    const def = env.hiddenClasses.has(String(node.class_type)) ? undefined : NODE_CLASSES.get(String(node.class_type));
    if (!def) return invalidPrompt(`Cannot execute because node ${fmt(node.class_type ?? null)} does not exist.`, id);
    if (def.outputNode && (partialTargets === null || partialTargets.includes(id))) outputs.push(id);
  }
  if (outputs.length === 0) {
    return { ok: false, error: { type: 'prompt_no_outputs', message: 'Prompt has no outputs', details: '', extra_info: {} }, nodeErrors: {} };
  }

  const good: string[] = [];
  const outputErrors: ValidationError[] = [];
  const errorsByNode = new Map<string, NodeErrors[string]>();
  const validated: Validated = new Map();
  for (const o of outputs) {
    let valid = false;
    let reasons: ValidationError[] = [];
    try {
      valid = validateInputs(prompt, o, validated, env);
      reasons = validated.get(o)?.errors ?? [];
    } catch (err) {
      const ex = err instanceof PyException ? err : new PyException('Exception', (err as Error).message, []);
      reasons = [{ type: 'exception_during_validation', message: 'Exception when validating node', details: ex.message, extra_info: { exception_type: ex.pyType, traceback: ex.traceback } }];
      validated.set(o, { valid: false, errors: reasons });
    }
    if (valid) {
      good.push(o);
      continue;
    }
    outputErrors.push(...reasons);
    // Like the real one: every invalid node seen so far gets this output as a dependent.
    for (const [nodeId, result] of validated) {
      if (result.valid || result.errors.length === 0) continue;
      if (!errorsByNode.has(nodeId)) errorsByNode.set(nodeId, { errors: result.errors, dependent_outputs: [], class_type: prompt[nodeId].class_type ?? null });
      errorsByNode.get(nodeId)?.dependent_outputs.push(o);
    }
  }
  const nodeErrors: NodeErrors = pyDict(errorsByNode);
  if (good.length === 0) {
    return {
      ok: false,
      error: { type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation', details: outputErrors.map((e) => `${e.message}: ${e.details}`).join('\n'), extra_info: {} },
      nodeErrors,
    };
  }
  return { ok: true, outputs: good, nodeErrors };
}
