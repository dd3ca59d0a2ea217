import { randomUUID } from 'node:crypto';
import { ExecutionList } from './execution-list.js';
import { tensorRepr, type FakeImage } from './images.js';
import { NODE_CLASSES } from './node-registry.js';
import { InterruptedError, NodeExecutionError, type NodeDef, type NodeEnv } from './node-types.js';
import { PyFloat, plain, pyDict, pyKeys, pyRepr, type PyValue } from './py-json.js';
import type { QueueItem } from './prompt-queue.js';
import { pyTraceback } from './save-images.js';
import type { RawPrompt } from './validate.js';
import type { WsHub } from './ws-hub.js';

/**
 * PromptExecutor.execute_async of ComfyUI 0.3.64: the message order of a run, the cache, the
 * interrupt points and the history result.
 */

export interface CacheEntry {
  outputs: unknown[];
  ui: { output: Record<string, PyValue>; meta: Record<string, PyValue> } | null;
}

export class AbortedError extends Error {}

export interface ExecutorDeps {
  hub: WsHub;
  env: NodeEnv;
  /** Outputs by cache signature (class + inputs + upstream signatures), like the classic cache. */
  cache: Map<string, CacheEntry>;
  durationFor(classType: string): number;
  /** A held class (a test's holdNode): what its node awaits once started; undefined when not held. */
  heldUntil(classType: string): Promise<void> | undefined;
  /** failNextRun: the message to raise at the first executed node, consumed once. */
  takeFailure(): string | null;
  /** Resolves after ms; rejects with AbortedError when the fake is stopped meanwhile. */
  sleep(ms: number): Promise<void>;
  isInterrupted(): boolean;
  clearInterrupt(): void;
  setLastNodeId(nodeId: string | null): void;
}

export interface ExecutionOutcome {
  success: boolean;
  messages: [string, Record<string, PyValue>][];
  outputs: Record<string, PyValue>;
  meta: Record<string, PyValue>;
}

type ProgressEntry = Record<string, PyValue>;

function signatures(prompt: RawPrompt, env: NodeEnv): Map<string, string> {
  const memo = new Map<string, string>();
  const visiting = new Set<string>();
  const sig = (id: string): string => {
    const known = memo.get(id);
    if (known) return known;
    const node = prompt[id];
    const def = NODE_CLASSES.get(String(node?.class_type));
    if (!node || !def || visiting.has(id)) return `unhashable:${randomUUID()}`;
    visiting.add(id);
    const inputs = (node.inputs ?? {}) as Record<string, PyValue>;
    const parts: unknown[] = [def.name, def.isChanged ? def.isChanged(plain(inputs), env) : ''];
    for (const key of Object.keys(inputs).sort()) {
      const v = inputs[key];
      if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string') parts.push([key, 'ANCESTOR', sig(v[0]), v[1]]);
      else parts.push([key, plain(v)]);
    }
    visiting.delete(id);
    const s = JSON.stringify(parts);
    memo.set(id, s);
    return s;
  };
  for (const id of Object.keys(prompt)) sig(id);
  return memo;
}

function formatValue(v: unknown): PyValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  if (Array.isArray(v) && v.length > 0 && typeof (v[0] as FakeImage).width === 'number' && 'color' in (v[0] as object)) return tensorRepr(v as FakeImage[]);
  return `<${typeof v === 'object' ? 'object' : typeof v}>`;
}

export async function executePrompt(item: QueueItem, deps: ExecutorDeps): Promise<ExecutionOutcome> {
  const [, promptId, rawPromptValue, extraData, outputsToExecute] = item;
  const rawPrompt = rawPromptValue as RawPrompt;
  const prompt = plain<Record<string, { class_type: string; inputs: Record<string, unknown> }>>(rawPrompt);
  const clientId = typeof extraData.client_id === 'string' ? extraData.client_id : extraData.client_id == null ? null : String(extraData.client_id);
  const { hub, env, cache } = deps;
  const messages: [string, Record<string, PyValue>][] = [];
  const uiOutputs = new Map<string, { output: Record<string, PyValue>; meta: Record<string, PyValue> }>();

  const addMessage = (event: string, data: Record<string, PyValue>, broadcast: boolean): void => {
    const stamped = { ...data, timestamp: Date.now() };
    messages.push([event, stamped]);
    if (clientId !== null || broadcast) hub.send(event, stamped, clientId);
  };

  deps.clearInterrupt();
  addMessage('execution_start', { prompt_id: promptId }, false);

  const sigs = signatures(rawPrompt, env);
  const live = new Set(sigs.values());
  for (const key of [...cache.keys()]) if (!live.has(key)) cache.delete(key);
  const isCached = (id: string): boolean => cache.has(sigs.get(id) ?? '');
  addMessage('execution_cached', { nodes: pyKeys(rawPrompt).filter(isCached), prompt_id: promptId }, false);

  const progressNodes = new Map<string, ProgressEntry>();
  const sendProgressState = (): void => hub.send('progress_state', { prompt_id: promptId, nodes: pyDict(progressNodes) }, clientId);
  const progressEntry = (id: string, value: PyValue, max: PyValue, state: string): ProgressEntry => ({
    value, max, state, node_id: id, prompt_id: promptId, display_node_id: id, parent_node_id: null, real_node_id: id,
  });
  const finishProgress = (id: string): void => {
    const entry = progressNodes.get(id) ?? progressEntry(id, 0, 1, 'running');
    entry.state = 'finished';
    entry.value = entry.max;
    progressNodes.set(id, entry);
    sendProgressState();
  };

  const executed: string[] = [];
  const isOutput = (id: string): boolean => NODE_CLASSES.get(prompt[id]?.class_type)?.outputNode === true;
  const list = new ExecutionList(rawPrompt, isCached, isOutput);
  for (const o of outputsToExecute) list.addNode(o);
  const failure = deps.takeFailure();
  let failurePending = failure !== null;

  const runNode = async (id: string, def: NodeDef): Promise<void> => {
    const sig = sigs.get(id) as string;
    const hit = cache.get(sig);
    if (hit) {
      if (clientId !== null) hub.send('executed', { node: id, display_node: id, output: hit.ui?.output ?? null, prompt_id: promptId }, clientId);
      if (hit.ui) uiOutputs.set(id, hit.ui);
      finishProgress(id);
      return;
    }
    progressNodes.set(id, progressEntry(id, new PyFloat(0), new PyFloat(1), 'running'));
    sendProgressState();
    if (clientId !== null) {
      deps.setLastNodeId(id);
      hub.send('executing', { node: id, display_node: id, prompt_id: promptId }, clientId);
    }
    const inputs: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(prompt[id].inputs ?? {})) {
      if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && value[0] in prompt) {
        inputs[key] = cache.get(sigs.get(value[0]) ?? '')?.outputs[value[1] as number] ?? null;
      } else inputs[key] = value;
    }
    const currentInputs = (): Record<string, PyValue> => {
      const out: Record<string, PyValue> = {};
      for (const [k, v] of Object.entries(inputs)) out[k] = [formatValue(v)];
      const hidden = ((def.info(env).input as Record<string, Record<string, PyValue>>).hidden ?? {}) as Record<string, PyValue>;
      for (const [k, kind] of Object.entries(hidden)) {
        if (kind === 'PROMPT') out[k] = [pyRepr(prompt)];
        else if (kind === 'EXTRA_PNGINFO') out[k] = [(extraData.extra_pnginfo as PyValue) ?? null];
        else if (kind === 'UNIQUE_ID') out[k] = [id];
      }
      return out;
    };
    try {
      if (deps.isInterrupted()) throw new InterruptedError();
      if (failurePending) {
        failurePending = false;
        throw new NodeExecutionError(failure as string, 'Exception', pyTraceback([['fake_comfyui.py', 1, 'fail_next_run', 'raise Exception(message)']]));
      }
      await deps.heldUntil(def.name);
      const duration = deps.durationFor(def.name);
      if (!def.reportsProgress) await deps.sleep(duration);
      const promptForMetadata: PyValue = pyDict(
        pyKeys(rawPrompt).map((nid): [string, PyValue] => {
          const n = rawPrompt[nid];
          const d = NODE_CLASSES.get(String(n.class_type));
          return [nid, d?.isChanged ? { ...n, is_changed: [d.isChanged(plain(n.inputs ?? {}), env)] } : n];
        }),
      );
      const result = await def.run(inputs, {
        ...env,
        nodeId: id,
        promptId,
        promptForMetadata,
        extraPnginfo: extraData.extra_pnginfo as Record<string, PyValue> | undefined,
        durationMs: duration,
        sleep: (ms) => deps.sleep(ms),
        progress: async (value, max) => {
          if (deps.isInterrupted()) throw new InterruptedError();
          progressNodes.set(id, { ...(progressNodes.get(id) as ProgressEntry), value, max, state: 'running' });
          sendProgressState();
          hub.send('progress', { value, max, prompt_id: promptId, node: id }, clientId);
        },
        progressText: (text) => hub.sendProgressText(text, id, null),
      });
      const ui = result.ui ? { output: result.ui, meta: { node_id: id, display_node: id, parent_node: null, real_node_id: id } } : null;
      cache.set(sig, { outputs: result.outputs, ui });
      if (ui) {
        uiOutputs.set(id, ui);
        if (clientId !== null) hub.send('executed', { node: id, display_node: id, output: ui.output, prompt_id: promptId }, clientId);
      }
      finishProgress(id);
      executed.push(id);
    } catch (err) {
      if (err instanceof AbortedError) throw err;
      if (err instanceof InterruptedError) {
        addMessage('execution_interrupted', { prompt_id: promptId, node_id: id, node_type: def.name, executed: [...executed] }, true);
      } else {
        const ex = err instanceof NodeExecutionError ? err : new NodeExecutionError((err as Error).message, 'Exception', pyTraceback([]));
        addMessage('execution_error', {
          prompt_id: promptId,
          node_id: id,
          node_type: def.name,
          executed: [...executed],
          exception_message: `${ex.message}\n`,
          exception_type: ex.exceptionType,
          traceback: ex.traceback,
          current_inputs: currentInputs(),
          current_outputs: pyKeys(rawPrompt),
        }, false);
      }
      throw new StopRun();
    }
  };

  let success = true;
  try {
    while (!list.isEmpty()) {
      const id = list.next();
      if (id === undefined) break;
      await runNode(id, NODE_CLASSES.get(prompt[id].class_type) as NodeDef);
      list.complete(id);
    }
    addMessage('execution_success', { prompt_id: promptId }, false);
  } catch (err) {
    if (!(err instanceof StopRun)) throw err;
    success = false;
  } finally {
    deps.setLastNodeId(null);
  }
  const outputs = pyDict([...uiOutputs].map(([id, ui]): [string, PyValue] => [id, ui.output]));
  const meta = pyDict([...uiOutputs].map(([id, ui]): [string, PyValue] => [id, ui.meta]));
  return { success, messages, outputs, meta };
}

class StopRun extends Error {}
