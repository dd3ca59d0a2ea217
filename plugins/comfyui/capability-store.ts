import type { Logger } from 'pino';
import type { BackendConnection } from './backend-connection.js';
import { parseCapabilities, type BackendCapabilities, type ModelInputs } from './capabilities.js';
import { isObject } from './protocol.js';

/**
 * Every backend's capabilities, learnt from one GET /object_info per backend when it comes up, on
 * an interval, and (throttled) when a generation finds no backend able to run it. At most one
 * request per backend at a time, and none within `minGapMs` of the last: ComfyUI's full
 * /object_info is large and building it costs the server CPU.
 */
export class CapabilityStore {
  readonly #caps = new Map<string, BackendCapabilities>();
  readonly #asking = new Map<string, Promise<void>>();
  readonly #askedAt = new Map<string, number>();
  /** Union over backends of the inputs that take model files, by class. */
  #modelInputs: ModelInputs = new Map();
  /** Bumped on every change, so callers can reuse what they derived from the last version. */
  version = 0;

  constructor(
    private readonly log: Logger,
    private readonly minGapMs: number,
    private readonly onLearnt: (backend: BackendConnection, all: Record<string, unknown>) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  get(name: string): BackendCapabilities | undefined {
    return this.#caps.get(name);
  }

  get modelInputs(): ModelInputs {
    return this.#modelInputs;
  }

  /** Asks the backend again unless a request runs or one ran within `minGapMs` (then `force` waits it out no further). */
  refresh(backend: BackendConnection, force = false): Promise<void> {
    const running = this.#asking.get(backend.name);
    if (running) return running;
    const last = this.#askedAt.get(backend.name) ?? -Infinity;
    if (!force && this.now() - last < this.minGapMs) return Promise.resolve();
    this.#askedAt.set(backend.name, this.now());
    const asking = this.#ask(backend).finally(() => this.#asking.delete(backend.name));
    this.#asking.set(backend.name, asking);
    return asking;
  }

  async #ask(backend: BackendConnection): Promise<void> {
    try {
      const res = await backend.http.json('GET', '/object_info');
      if (res.status !== 200 || !isObject(res.body)) {
        this.log.warn({ backend: backend.name, status: res.status }, 'GET /object_info failed; keeping what was known of this backend');
        return;
      }
      const caps = parseCapabilities(res.body, this.now());
      const before = this.#caps.get(backend.name);
      this.#caps.set(backend.name, caps);
      this.#modelInputs = unionOfModelInputs(this.#caps.values());
      this.version += 1;
      if (!before || before.classes.size !== caps.classes.size || modelCount(before) !== modelCount(caps)) {
        this.log.info({ backend: backend.name, classes: caps.classes.size, modelInputs: caps.models.size, models: modelCount(caps) }, 'backend capabilities learnt');
      }
      this.onLearnt(backend, res.body);
    } catch (error) {
      backend.lastError = (error as Error).message;
      this.log.warn({ backend: backend.name, err: error }, 'GET /object_info failed; keeping what was known of this backend');
    }
  }

  /** The files `input` ("<class>.<input>") accepts on any of `backends` that know it, sorted; undefined when none does. */
  filesFor(backends: readonly BackendConnection[], input: string): string[] | undefined {
    let union: Set<string> | undefined;
    for (const backend of backends) {
      if (!backend.up) continue;
      const files = this.#caps.get(backend.name)?.models.get(input);
      if (!files) continue;
      union ??= new Set();
      for (const file of files) union.add(file);
    }
    return union ? [...union].sort() : undefined;
  }
}

const modelCount = (caps: BackendCapabilities): number => {
  let n = 0;
  for (const files of caps.models.values()) n += files.size;
  return n;
};

function unionOfModelInputs(all: Iterable<BackendCapabilities>): ModelInputs {
  const union = new Map<string, Set<string>>();
  for (const caps of all) {
    for (const key of caps.models.keys()) {
      const dot = key.lastIndexOf('.');
      const classType = key.slice(0, dot);
      const inputs = union.get(classType) ?? new Set<string>();
      inputs.add(key.slice(dot + 1));
      union.set(classType, inputs);
    }
  }
  return union;
}
