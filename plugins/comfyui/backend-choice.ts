import type { BackendFit, RouteNeed } from '../../contracts/transport.js';
import type { BackendConnection } from './backend-connection.js';
import { canRun, lacks, needsOf, type GraphNeeds } from './capabilities.js';
import type { CapabilityStore } from './capability-store.js';
import type { AffinityOptions } from './options.js';

type Tags = Readonly<Record<string, string>>;

/**
 * The choice of a backend for a generation: only backends that are up, carry the workflow's pinned
 * tags and have everything its graph needs; among them the shortest queue, then the heaviest
 * weight, then round robin — except that a backend which last ran the same model files wins while
 * its queue is at most `affinity.maxQueueImbalance` longer than the shortest (no model reload).
 * A backend whose /object_info was never learnt is not excluded: the bridge cannot know, and
 * ComfyUI's own validation still answers.
 */
export class BackendChoice {
  readonly #lastModel = new Map<string, string>();
  readonly #capable = new Map<string, readonly BackendConnection[]>();
  #capableVersion = -1;
  #roundRobin = 0;

  constructor(
    private readonly backends: readonly BackendConnection[],
    private readonly caps: CapabilityStore,
    private readonly tags: ReadonlyMap<string, Tags>,
    private readonly pins: Readonly<Record<string, Tags>>,
    private readonly affinity: AffinityOptions,
  ) {}

  needs(need: RouteNeed): GraphNeeds {
    return needsOf(need.graph, this.caps.modelInputs);
  }

  /** Remembers the model files a backend was just given, for affinity. */
  submitted(backend: string, needs: GraphNeeds): void {
    if (needs.modelKey !== '') this.#lastModel.set(backend, needs.modelKey);
  }

  /**
   * The backends (up or not) that carry the pin and have what `needs` asks, reused while the
   * capabilities stay the same: graphs of one workflow ask the same, and a decision must stay cheap
   * with many backends (docs/performance.md, routing).
   */
  #capableOf(needs: GraphNeeds, workflow: string | undefined): readonly BackendConnection[] {
    if (this.#capableVersion !== this.caps.version) {
      this.#capable.clear();
      this.#capableVersion = this.caps.version;
    }
    const pin = workflow !== undefined ? this.pins[workflow] : undefined;
    const signature = `${pin ? workflow : ''}\u0000${needs.classes.join('\u0001')}\u0000${needs.models.map((m) => `${m.input}=${m.file}`).join('\u0001')}`;
    let capable = this.#capable.get(signature);
    if (!capable) {
      capable = this.backends.filter((backend) => {
        if (pin && !hasTags(this.tags.get(backend.name), pin)) return false;
        const caps = this.caps.get(backend.name);
        return !caps || canRun(caps, needs);
      });
      // Bounded: a flood of distinct graphs (client-chosen model inputs) cannot grow it without end.
      if (this.#capable.size >= 10_000) this.#capable.clear();
      this.#capable.set(signature, capable);
    }
    return capable;
  }

  pick(need?: RouteNeed): string | undefined {
    const needs = need ? this.needs(need) : undefined;
    const candidates = needs ? this.#capableOf(needs, need?.workflow) : this.backends;
    let best: BackendConnection[] = [];
    let bestLoad = Infinity;
    let bestWeight = -Infinity;
    let warm: BackendConnection | undefined;
    let warmLoad = Infinity;
    const wantsWarm = this.affinity.enabled && needs !== undefined && needs.modelKey !== '';
    for (const backend of candidates) {
      if (!backend.up) continue;
      const load = backend.queueRemaining ?? 0;
      if (wantsWarm && load < warmLoad && this.#lastModel.get(backend.name) === needs.modelKey) {
        warm = backend;
        warmLoad = load;
      }
      if (load < bestLoad || (load === bestLoad && backend.weight > bestWeight)) {
        best = [backend];
        bestLoad = load;
        bestWeight = backend.weight;
      } else if (load === bestLoad && backend.weight === bestWeight) {
        best.push(backend);
      }
    }
    if (warm && warmLoad - bestLoad <= this.affinity.maxQueueImbalance) return warm.name;
    if (best.length === 0) return undefined;
    const chosen = best[this.#roundRobin % best.length];
    this.#roundRobin = (this.#roundRobin + 1) % 1_000_000;
    return chosen?.name;
  }

  /** Every backend's answer to "can you run this?", with what it lacks (for 503s, /workflow-list, /ready). */
  fit(need: RouteNeed): BackendFit[] {
    const needs = this.needs(need);
    const pin = need.workflow !== undefined ? this.pins[need.workflow] : undefined;
    return this.backends.map((backend) => {
      const missing: string[] = [];
      if (pin) {
        const tags = this.tags.get(backend.name);
        for (const [tag, value] of Object.entries(pin)) if (tags?.[tag] !== value) missing.push(`tag ${tag}=${value}`);
      }
      const caps = this.caps.get(backend.name);
      if (caps) missing.push(...lacks(caps, needs));
      return { backend: backend.name, up: backend.up, known: caps !== undefined, missing };
    });
  }
}

function hasTags(tags: Tags | undefined, pin: Tags): boolean {
  for (const [tag, value] of Object.entries(pin)) if (tags?.[tag] !== value) return false;
  return true;
}
