import type { Logger } from 'pino';
import { notFound } from '../../core/errors.js';
import { BackendConnection, type ConnectionEvents } from './backend-connection.js';
import { LocalOutputs } from './local-outputs.js';
import type { ComfyuiOptions } from './options.js';

function nameFor(url: string, index: number, taken: Set<string>): string {
  let base: string;
  try {
    base = new URL(url).host;
  } catch {
    base = `backend-${index + 1}`;
  }
  let name = base;
  for (let n = 2; taken.has(name); n += 1) name = `${base}#${n}`;
  return name;
}

/** The configured backends under unique names, and the choice of one for a new prompt. */
export class BackendPool {
  readonly all: readonly BackendConnection[];
  readonly #byName = new Map<string, BackendConnection>();
  #roundRobin = 0;

  constructor(options: ComfyuiOptions, clientId: string, events: ConnectionEvents, log: Logger, closing: AbortSignal) {
    const settings = {
      clientId,
      reconnect: options.reconnect,
      silentTimeoutMs: options.silentTimeoutMs,
      pingIntervalMs: options.pingIntervalMs,
      requestTimeoutMs: options.requestTimeoutMs,
    };
    const taken = new Set<string>();
    this.all = options.backends.map((cfg, index) => {
      const name = cfg.name && !taken.has(cfg.name) ? cfg.name : nameFor(cfg.url, index, taken);
      taken.add(name);
      const outputs = cfg.outputDir || cfg.tempDir ? new LocalOutputs({ output: cfg.outputDir, temp: cfg.tempDir }, name, log) : undefined;
      const backend = new BackendConnection(name, cfg.url, cfg.weight ?? 1, settings, events, log, closing, outputs);
      this.#byName.set(name, backend);
      return backend;
    });
  }

  get(name: string): BackendConnection | undefined {
    return this.#byName.get(name);
  }

  require(name: string): BackendConnection {
    const backend = this.#byName.get(name);
    if (!backend) throw notFound(`no ComfyUI backend is named "${name}"`);
    return backend;
  }

  /** The least loaded backend that is up; ties go to the heaviest weight, then round robin. */
  pick(): string | undefined {
    let best: BackendConnection[] = [];
    let bestLoad = Infinity;
    let bestWeight = -Infinity;
    for (const backend of this.all) {
      if (!backend.up) continue;
      const load = backend.queueRemaining ?? 0;
      if (load < bestLoad || (load === bestLoad && backend.weight > bestWeight)) {
        best = [backend];
        bestLoad = load;
        bestWeight = backend.weight;
      } else if (load === bestLoad && backend.weight === bestWeight) {
        best.push(backend);
      }
    }
    if (best.length === 0) return undefined;
    const chosen = best[this.#roundRobin % best.length];
    this.#roundRobin = (this.#roundRobin + 1) % 1_000_000;
    return chosen?.name;
  }
}
