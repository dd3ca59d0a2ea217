import type { Logger } from 'pino';
import type { Transport } from '../../contracts/transport.js';
import type { Workflow, WorkflowInput, WorkflowRegistry } from '../../plugins/workflows/api.js';
import type { WorkflowLoadError } from './errors.js';
import { loadWorkflowDir } from './load-workflows.js';
import { constraintsFor, enrichInput, nodeDefinition } from './object-info.js';
import { within } from '../../lib/within.js';

export interface RegistryOptions {
  /** Absolute path of the workflows folder. */
  dir: string;
  log: Logger;
  /** The transport, looked up when needed: it may register after us, or not at all. */
  transport?: () => Transport | undefined;
  /** How long describe() waits for the backend's /object_info before answering from the graph alone. */
  objectInfoTimeoutMs?: number;
}

type NodeDefinition = Record<string, unknown>;

/** Short enough that a backend coming up (or gaining nodes) shows in /workflow-info within a second. */
const DESCRIBE_REUSE_MS = 1000;

/** The workflows found in one folder, reloadable as a whole; readers always see one consistent set. */
export class FileWorkflowRegistry implements WorkflowRegistry {
  readonly dir: string;
  #workflows = new Map<string, Workflow>();
  #errors: WorkflowLoadError[] = [];
  #chain: Promise<void> = Promise.resolve();
  #pending: Promise<void> | null = null;
  readonly #listeners = new Set<() => void>();
  /** describe() answers, reused briefly: /workflow-info is a hot read and its answer changes rarely. */
  readonly #described = new Map<string, { inputs: Record<string, WorkflowInput>; at: number; json?: string }>();
  #version = 0;

  constructor(private readonly options: RegistryOptions) {
    this.dir = options.dir;
  }

  /**
   * Reads the folder again and swaps the whole set at once. Calls made while a load runs are
   * coalesced into one more load after it, so a burst of file events costs at most two reads.
   */
  reload(): Promise<void> {
    if (this.#pending) return this.#pending;
    // Never rejects: a failed load is logged and keeps the previous set, and the next reload still runs.
    const next = this.#chain
      .then(async () => {
        this.#pending = null;
        await this.#loadNow();
      })
      .catch((error: unknown) => {
        this.options.log.error({ err: error, dir: this.dir }, 'reloading workflows failed; keeping the previous set');
      });
    this.#pending = next;
    this.#chain = next;
    return next;
  }

  /** Resolves once no (re)load is running or queued. */
  async settled(): Promise<void> {
    while (this.#pending) await this.#pending;
    await this.#chain;
  }

  async #loadNow(): Promise<void> {
    const { log } = this.options;
    const { workflows, errors } = await loadWorkflowDir(this.dir);
    for (const { file, reason } of errors) {
      log.warn({ file, dir: this.dir }, `workflow file skipped: ${file}: ${reason}`);
    }
    log.info({ dir: this.dir, aliases: [...workflows.keys()], skipped: errors.length }, `loaded ${workflows.size} workflow(s)`);
    this.#workflows = workflows;
    this.#version += 1;
    this.#described.clear();
    this.#errors = errors;
    for (const listener of this.#listeners) listener();
  }

  /** Called after every (re)load. Returns an unsubscribe function. */
  onReload(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Bumped by every (re)load: what was derived from the last set (e.g. a serialised answer) is stale once it moves. */
  get version(): number {
    return this.#version;
  }

  list(): Workflow[] {
    return [...this.#workflows.values()];
  }

  get(alias: string): Workflow | undefined {
    return this.#workflows.get(alias);
  }

  errors(): WorkflowLoadError[] {
    return [...this.#errors];
  }

  async describe(alias: string): Promise<Record<string, WorkflowInput> | undefined> {
    const workflow = this.#workflows.get(alias);
    if (!workflow) return undefined;
    const reused = this.#described.get(alias);
    if (reused && Date.now() - reused.at < DESCRIBE_REUSE_MS) return structuredClone(reused.inputs);
    return structuredClone(await this.#describeNow(alias, workflow));
  }

  /**
   * describe() as the JSON text /workflow-info sends: a reused answer is serialised once, not cloned
   * and serialised per request.
   */
  async describeJson(alias: string): Promise<string | undefined> {
    const workflow = this.#workflows.get(alias);
    if (!workflow) return undefined;
    const reused = this.#described.get(alias);
    if (reused && Date.now() - reused.at < DESCRIBE_REUSE_MS) return (reused.json ??= JSON.stringify(reused.inputs));
    return JSON.stringify(await this.#describeNow(alias, workflow));
  }

  /** The enriched inputs, kept for reuse when complete; callers must not hand this object out. */
  async #describeNow(alias: string, workflow: Workflow): Promise<Record<string, WorkflowInput>> {
    const classes = [...new Set(Object.values(workflow.inputs).map((input) => input.class))];
    const definitions = new Map<string, NodeDefinition>();
    await Promise.all(
      classes.map(async (classType) => {
        const definition = await this.#definition(classType);
        if (definition) definitions.set(classType, definition);
      }),
    );
    const described: Record<string, WorkflowInput> = {};
    for (const [key, input] of Object.entries(workflow.inputs)) {
      const definition = definitions.get(input.class);
      const inputName = key.slice(key.indexOf('/') + 1);
      described[key] = definition ? enrichInput(input, constraintsFor(definition, inputName)) : { ...input };
      // A model input accepts what any backend has (routing then picks one that has the chosen file),
      // not only the list of the backend that happened to answer /object_info.
      const files = this.options.transport?.()?.modelFiles?.(input.class, inputName);
      if (files) described[key]!.options = files;
    }
    // Only a fully enriched answer is reused: with a backend missing, the next request asks again.
    if (definitions.size === classes.length) this.#described.set(alias, { inputs: described, at: Date.now() });
    return described;
  }

  async #definition(classType: string): Promise<NodeDefinition | undefined> {
    const transport = this.options.transport?.();
    if (!transport) return undefined;
    // The transport holds the one /object_info cache (with its TTL) and bounds the wait; `within`
    // only guards against a transport that does not honour the timeout.
    const timeoutMs = this.options.objectInfoTimeoutMs ?? 1000;
    const info = await within(Promise.resolve().then(() => transport.objectInfo(classType, timeoutMs)).catch(() => undefined), timeoutMs);
    const definition = nodeDefinition(info, classType);
    if (!definition) this.options.log.debug({ classType }, 'no /object_info for this node class; answering from the graph alone');
    return definition;
  }
}
