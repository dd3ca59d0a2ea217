import type { Generation } from '../../contracts/generation.js';
import type { RouteNeed, Transport } from '../../contracts/transport.js';
import type { FairShareOptions } from './fair-share-options.js';

/** How often the line is tried again without an event (a backend came back up, or learned a model). */
const RETRY_EVERY_MS = 500;
/**
 * Moves are told at most this often: every release moves every generation behind it, so telling each
 * release would cost a frame per held generation per release (quadratic in a flood).
 */
const MOVES_EVERY_MS = 250;

/**
 * The bridge's own queue in front of saturated backends (docs/fair-share.md).
 *
 * Saturation rule: a backend is saturated while this bridge process has `maxPromptsPerBackend`
 * prompts on it that have not ended (queued or running there), or while ComfyUI itself last reported
 * that many queued + running (so prompts of other instances of a fleet, and of other programs,
 * count too). A new generation goes straight to a
 * backend with room only when nobody is held; otherwise it is held here and released, one at a
 * time as room appears, round-robin across keys: the key served last goes to the back of the line
 * (after `weight` releases in a row when weighted), a key with nothing held leaves the line and
 * joins at its back when it sends again. So a key flooding the bridge delays another key's next
 * generation by at most one release (its weight, when weighted).
 *
 * The line is this process's: in a fleet each instance keeps its own line, so the round-robin is
 * between the keys of one instance (a held generation is leased to the instance that holds it, so it
 * is released, and submitted, by exactly one instance).
 */
/** What the queue needs to know about backends: the transport's choice, and every backend able to run a need. */
export interface BackendChoice {
  /** The backend the transport would pick for `need` (capable, up, shortest queue, affinity), or undefined. */
  pick(need: RouteNeed): string | undefined;
  /** Every up backend able to run `need`. */
  capable(need: RouteNeed): string[];
  /** Prompts queued + running on the backend as ComfyUI last reported them (everyone's), or null when unknown. */
  reported?(backend: string): number | null;
}

/** The transport as the queue asks it: its own pick, and every up backend able to run the need. */
export function transportChoice(transport: Transport): BackendChoice {
  return {
    pick: (need) => transport.pickBackend(need),
    capable: (need) =>
      transport.fit
        ? transport.fit(need).filter((fit) => fit.up && fit.missing.length === 0).map((fit) => fit.backend)
        : transport.backends().filter((backend) => backend.up).map((backend) => backend.name),
    reported: (name) => transport.backends().find((backend) => backend.name === name)?.queueRemaining ?? null,
  };
}

/** Whose turn a generation waits for: its API key, or its clientId when it was made with auth off. */
export const fairShareKey = (gen: Pick<Generation, 'owner' | 'clientId'>): string => gen.owner ?? `client:${gen.clientId}`;

/** A held generation: released by calling `release` with the backend it may go to (its slot is taken already). */
export interface HeldGeneration {
  id: string;
  /** Whose turn it waits for: the API key id, or "client:<clientId>" without auth. */
  key: string;
  need: RouteNeed;
  release(backend: string): void;
  /** Its position changed since it was last told (others released or gone ahead of it); at most every MOVES_EVERY_MS. */
  moved?(position: number): void;
}

export class FairQueue {
  /** backend → generations this process has on it (queued or running there). */
  readonly #onBackend = new Map<string, Set<string>>();
  readonly #backendOf = new Map<string, string>();
  /** key → its held generations, oldest first. */
  readonly #held = new Map<string, HeldGeneration[]>();
  readonly #heldIds = new Map<string, HeldGeneration>();
  /** Keys with something held, the next to be served first. */
  #line: string[] = [];
  /** Releases the key at the front of the line had in its current turn. */
  #usedInTurn = 0;
  #pumping = false;
  #closed = false;
  readonly #timer: NodeJS.Timeout;
  /** id → the position its generation was last told (by hold(), then by moved()). */
  readonly #told = new Map<string, number>();
  #movesTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly options: FairShareOptions,
    private readonly backends: BackendChoice,
  ) {
    this.#timer = setInterval(() => this.pump(), RETRY_EVERY_MS);
    this.#timer.unref();
  }

  get heldCount(): number {
    return this.#heldIds.size;
  }

  isHeld(id: string): boolean {
    return this.#heldIds.has(id);
  }

  /** Prompts this process has on `backend`. */
  load(backend: string): number {
    return this.#onBackend.get(backend)?.size ?? 0;
  }

  /**
   * A backend with room for a new generation, taken for it, when nobody is held; undefined when it
   * must be held (someone waits already, or every capable backend is saturated).
   */
  claim(id: string, need: RouteNeed): string | undefined {
    if (this.#heldIds.size > 0) return undefined;
    const backend = this.#room(need);
    if (backend !== undefined) this.occupy(id, backend);
    return backend;
  }

  /** Counts `id` on `backend` (a submission, a resubmission elsewhere, or a prompt followed again after a restart). */
  occupy(id: string, backend: string): void {
    this.#leaveBackend(id);
    this.#backendOf.set(id, backend);
    const ids = this.#onBackend.get(backend);
    if (ids) ids.add(id);
    else this.#onBackend.set(backend, new Set([id]));
  }

  /** `id` ended (or was interrupted while held): its slot, or its place in the line, is free. */
  free(id: string): void {
    const freed = this.#leaveBackend(id);
    const held = this.#heldIds.get(id);
    if (held) {
      this.#unhold(held);
      this.#tellMoves();
    }
    if (freed) this.pump();
  }

  /**
   * Holds a generation at the back of its key's queue; returns its position, to show in its first
   * frame (`moved` tells the later ones). Call pump() after (the caller may first announce it).
   */
  hold(item: HeldGeneration): number {
    if (!this.#heldIds.has(item.id)) {
      this.#heldIds.set(item.id, item);
      const queue = this.#held.get(item.key);
      if (queue) {
        queue.push(item);
      } else {
        this.#held.set(item.key, [item]);
        this.#line.push(item.key);
      }
    }
    const position = this.position(item.id)!;
    this.#told.set(item.id, position);
    return position;
  }

  /** Releases held generations while a backend has room for the next one in turn. */
  pump(): void {
    if (this.#pumping || this.#closed) return;
    this.#pumping = true;
    try {
      let released = 0;
      while (this.#heldIds.size > 0 && this.#releaseOne()) released++;
      if (released > 0) this.#tellMoves();
    } finally {
      this.#pumping = false;
    }
  }

  /**
   * Prompts ahead of a held generation (0 = next to run): the generations the line releases before
   * it, plus the prompts on the least busy backend that can run it. undefined when it is not held.
   */
  position(id: string): number | undefined {
    const target = this.#heldIds.get(id);
    if (!target) return undefined;
    return this.#releasedBefore(target) + this.#leastBusy(target);
  }

  /** Releases nothing more: what is held stays stored `queued` for the next start. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    if (this.#movesTimer) clearTimeout(this.#movesTimer);
  }

  /** Prompts on the least busy backend that can run it (what a held generation waits for once released). */
  #leastBusy(item: HeldGeneration): number {
    const loads = this.backends.capable(item.need).map((backend) => this.#busy(backend));
    return loads.length > 0 ? Math.min(...loads) : this.options.maxPromptsPerBackend;
  }

  /** Soon (MOVES_EVERY_MS, coalescing the releases meanwhile): tells each held generation whose position changed. */
  #tellMoves(): void {
    if (this.#movesTimer || this.#closed) return;
    this.#movesTimer = setTimeout(() => {
      this.#movesTimer = null;
      if (this.#closed) return;
      // One simulation of the line for all of them, not one per generation.
      for (const [item, releasedBefore] of this.#releaseOrder()) {
        const position = releasedBefore + this.#leastBusy(item);
        if (!item.moved || this.#told.get(item.id) === position) continue;
        this.#told.set(item.id, position);
        item.moved(position);
      }
    }, MOVES_EVERY_MS);
    this.#movesTimer.unref();
  }

  #weight(key: string): number {
    return Math.max(1, this.options.weights[key] ?? 1);
  }

  /** One release: the first key in line whose oldest held generation has a backend with room. */
  #releaseOne(): boolean {
    for (let index = 0; index < this.#line.length; index++) {
      const key = this.#line[index]!;
      const queue = this.#held.get(key)!;
      const next = queue[0]!;
      const backend = this.#room(next.need);
      if (backend === undefined) continue;
      // A key behind the front served out of turn (the front's need has no room) starts its own turn.
      if (index > 0) this.#usedInTurn = 0;
      queue.shift();
      this.#heldIds.delete(next.id);
      this.#told.delete(next.id);
      this.#usedInTurn++;
      const turnOver = this.#usedInTurn >= this.#weight(key) || queue.length === 0;
      if (turnOver) {
        this.#line.splice(index, 1);
        this.#usedInTurn = 0;
        if (queue.length > 0) this.#line.push(key);
        else this.#held.delete(key);
      } else if (index > 0) {
        // It goes on with its turn at the front.
        this.#line.splice(index, 1);
        this.#line.unshift(key);
      }
      this.occupy(next.id, backend);
      next.release(backend);
      return true;
    }
    return false;
  }

  /** How many releases come before `target`. */
  #releasedBefore(target: HeldGeneration): number {
    return this.#releaseOrder(target).get(target)!;
  }

  /**
   * The line simulated (every need assumed to find room): each held generation and how many releases
   * come before it, in release order; up to `until` when given.
   */
  #releaseOrder(until?: HeldGeneration): Map<HeldGeneration, number> {
    const order = new Map<HeldGeneration, number>();
    const left = new Map<string, number>();
    for (const [key, queue] of this.#held) left.set(key, queue.length);
    const served = new Map<string, number>();
    const line = [...this.#line];
    let used = this.#usedInTurn;
    let released = 0;
    while (line.length > 0) {
      const key = line[0]!;
      const nth = served.get(key) ?? 0;
      served.set(key, nth + 1);
      const item = this.#held.get(key)![nth]!;
      order.set(item, released);
      if (item === until) return order;
      released++;
      const remaining = left.get(key)! - 1;
      left.set(key, remaining);
      used++;
      if (used >= this.#weight(key) || remaining === 0) {
        line.shift();
        used = 0;
        if (remaining > 0) line.push(key);
      }
    }
    return order;
  }

  /** The backend a need may go to now: the transport's pick when it has room, else the least loaded capable one with room. */
  #room(need: RouteNeed): string | undefined {
    const max = this.options.maxPromptsPerBackend;
    const preferred = this.backends.pick(need);
    if (preferred === undefined) return undefined;
    if (this.#busy(preferred) < max) return preferred;
    let best: string | undefined;
    let bestBusy = max;
    for (const backend of this.backends.capable(need)) {
      const busy = this.#busy(backend);
      if (busy < bestBusy) [best, bestBusy] = [backend, busy];
    }
    return best;
  }

  /** Ours, or everyone's as ComfyUI last said, whichever is more: a saturated backend is full whoever filled it. */
  #busy(backend: string): number {
    return Math.max(this.load(backend), this.backends.reported?.(backend) ?? 0);
  }

  #unhold(item: HeldGeneration): void {
    this.#heldIds.delete(item.id);
    this.#told.delete(item.id);
    const queue = this.#held.get(item.key);
    if (!queue) return;
    const index = queue.indexOf(item);
    if (index >= 0) queue.splice(index, 1);
    if (queue.length > 0) return;
    this.#held.delete(item.key);
    const at = this.#line.indexOf(item.key);
    if (at >= 0) this.#line.splice(at, 1);
    if (at === 0) this.#usedInTurn = 0;
  }

  #leaveBackend(id: string): boolean {
    const backend = this.#backendOf.get(id);
    if (backend === undefined) return false;
    this.#backendOf.delete(id);
    const ids = this.#onBackend.get(backend);
    ids?.delete(id);
    if (ids?.size === 0) this.#onBackend.delete(backend);
    return true;
  }
}
