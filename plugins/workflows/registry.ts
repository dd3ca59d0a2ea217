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

/** For a transport that cannot say when its capabilities change: a backend coming up (or gaining nodes) shows within a second. */
const DESCRIBE_REUSE_MS = 1000;

/**
 * A describe() answer kept for reuse: /workflow-info is a hot read and its answer changes rarely. It holds while
 * the workflow set (the map is cleared on reload), the transport and that transport's capability generation stay
 * the same; `generation` is undefined for a transport that has none (then `at` bounds the reuse).
 */
interface Described {
  inputs: Record<string, WorkflowInput>;
  transport: Transport | undefined;
  generation: number | undefined;
  at: number;
  /** The JSON text /workflow-info sends, encoded on first use. */
  bytes?: Buffer;
}

/** What the answer is derived from, on the transport's side: constant without a transport (only a reload changes it). */
const generationOf = (transport: Transport | undefined): number | undefined => (transport ? transport.capabilityGeneration?.() : 0);

/** The workflows found in one folder, reloadable as a whole; readers always see one consistent set. */
export class FileWorkflowRegistry implements WorkflowRegistry {
  readonly dir: string;
  #workflows = new Map<string, Workflow>();
  #errors: WorkflowLoadError[] = [];
  #chain: Promise<void> = Promise.resolve();
  #pending: Promise<void> | null = null;
  readonly #listeners = new Set<() => void>();
  readonly #described = new Map<string, Described>();
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
    return structuredClone((this.#reusable(alias) ?? (await this.#describeNow(alias, workflow))).inputs);
  }

  /**
   * describe() as the bytes /workflow-info sends, when a kept answer still holds: synchronous, so the hot path
   * of the route awaits nothing. Undefined when it must be described again (describeBytes) or is unknown.
   */
  describedBytes(alias: string): Buffer | undefined {
    const kept = this.#reusable(alias);
    return kept ? (kept.bytes ??= Buffer.from(JSON.stringify(kept.inputs))) : undefined;
  }

  /** describe() as the bytes /workflow-info sends; undefined for an unknown alias. */
  async describeBytes(alias: string): Promise<Buffer | undefined> {
    const workflow = this.#workflows.get(alias);
    if (!workflow) return undefined;
    const described = this.#reusable(alias) ?? (await this.#describeNow(alias, workflow));
    return (described.bytes ??= Buffer.from(JSON.stringify(described.inputs)));
  }

  /** The kept answer for `alias` if nothing it was derived from has moved since. */
  #reusable(alias: string): Described | undefined {
    const kept = this.#described.get(alias);
    if (!kept) return undefined;
    const transport = this.options.transport?.();
    if (kept.transport !== transport) return undefined;
    if (kept.generation === undefined) return Date.now() - kept.at < DESCRIBE_REUSE_MS ? kept : undefined;
    return generationOf(transport) === kept.generation ? kept : undefined;
  }

  /** The enriched inputs, kept for reuse when complete; callers must not hand `inputs` out. */
  async #describeNow(alias: string, workflow: Workflow): Promise<Described> {
    const transport = this.options.transport?.();
    // Read before asking: a change while the answer is built moves the generation past the one it is kept under.
    const generation = generationOf(transport);
    const classes = [...new Set(Object.values(workflow.inputs).map((input) => input.class))];
    const definitions = new Map<string, NodeDefinition>();
    await Promise.all(
      classes.map(async (classType) => {
        const definition = await this.#definition(transport, classType);
        if (definition) definitions.set(classType, definition);
      }),
    );
    const inputs: Record<string, WorkflowInput> = {};
    for (const [key, input] of Object.entries(workflow.inputs)) {
      const definition = definitions.get(input.class);
      const inputName = key.slice(key.indexOf('/') + 1);
      inputs[key] = definition ? enrichInput(input, constraintsFor(definition, inputName)) : { ...input };
      // A model input accepts what any backend has (routing then picks one that has the chosen file),
      // not only the list of the backend that happened to answer /object_info.
      const files = transport?.modelFiles?.(input.class, inputName);
      if (files) inputs[key]!.options = files;
    }
    const described: Described = { inputs, transport, generation, at: Date.now() };
    // Kept when complete, or when there is no backend to ask; with a definition missing (a backend down, slow,
    // or lacking the class) the next request asks again. Not kept across a reload that ran meanwhile.
    const complete = transport === undefined || definitions.size === classes.length;
    if (complete && this.#workflows.get(alias) === workflow) this.#described.set(alias, described);
    return described;
  }

  async #definition(transport: Transport | undefined, classType: string): Promise<NodeDefinition | undefined> {
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
