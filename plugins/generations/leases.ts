import type { Logger } from 'pino';
import type { LeaseStore } from '../../contracts/storage.js';
import type { GenerationHooks } from './api.js';
import { adoptClaimed } from './recovery.js';
import type { Runner } from './runner.js';

const PLUGIN = 'generations';
/** How often expired leases are looked for at most (a dead instance's prompts are followed again within lease + this). */
const CLAIM_EVERY_MS = 1000;
/**
 * Ends announced within this are marked announced in one write. Each write is a statement (and a firing
 * of the tallies' statement trigger) per instance: at 50 ms it came to about one per three submissions in
 * the fleet bench. Marking later costs nothing but time a dead instance's survivor spends checking the
 * bus for ends already published (Runner.announceEnd), so a quarter second.
 */
const ANNOUNCE_BATCH_MS = 250;

/**
 * This instance's side of the leases (contracts/storage.ts LeaseStore): it renews its own lease (one
 * for the instance when the store has one, else the lease of every generation it follows: those it
 * recorded, whose lease the insert took, and those it adopted),
 * claims the expired leases of dead instances and adopts those generations, and gives its leases
 * up when it stops so a survivor takes over at once. With a single-process store (infinite
 * leases) only the one claim at start happens.
 */
export class LeaseKeeper {
  readonly #held = new Set<string>();
  /** Ended here (final state stored, terminal frames published), not yet marked announced: still leased. */
  readonly #ending = new Set<string>();
  #announceTimer: NodeJS.Timeout | undefined;
  readonly #timers: NodeJS.Timeout[] = [];
  #claiming: Promise<void> | undefined;
  #renewing: Promise<void> | undefined;
  #stopped = false;

  constructor(
    private readonly deps: { leases: LeaseStore; runner: Runner; hooks: GenerationHooks; log: Logger },
  ) {
    deps.hooks.created.tap(PLUGIN, (gen) => this.#held.add(gen.id));
    // `settled` comes once the terminal frames are published: only then does the lease end.
    deps.hooks.settled.tap(PLUGIN, (gen) => {
      this.#held.delete(gen.id);
      if (!Number.isFinite(deps.leases.ttlMs)) return;
      this.#ending.add(gen.id);
      this.#announceTimer ??= setTimeout(() => {
        this.#announceTimer = undefined;
        void this.#markAnnounced();
      }, ANNOUNCE_BATCH_MS);
      this.#announceTimer.unref();
    });
  }

  /** Adopts what is claimable now (at start), then keeps renewing and claiming in the background. */
  async start(): Promise<void> {
    await this.claim();
    const { ttlMs } = this.deps.leases;
    if (!Number.isFinite(ttlMs)) return;
    const renewEvery = Math.max(100, Math.floor(ttlMs / 3));
    const claimEvery = Math.max(100, Math.min(CLAIM_EVERY_MS, renewEvery));
    this.#timers.push(setInterval(() => void this.renew(), renewEvery), setInterval(() => void this.claim(), claimEvery));
    for (const timer of this.#timers) timer.unref();
  }

  /** One claim pass (one at a time): every expired lease it can take, adopted. */
  claim(): Promise<void> {
    this.#claiming ??= (async () => {
      try {
        if (this.#stopped) return;
        const adopted = await adoptClaimed(this.deps.leases, this.deps.runner, this.deps.log);
        for (const id of adopted) this.#held.add(id);
      } catch (error) {
        this.deps.log.warn({ err: error }, 'could not claim expired generation leases');
      }
    })().finally(() => (this.#claiming = undefined));
    return this.#claiming;
  }

  renew(): Promise<void> {
    this.#renewing ??= (async () => {
      if (this.#stopped) return;
      try {
        // One lease for the whole instance, when the store has one: renewing it is one write however
        // many generations this instance follows; the generations are checked only after it lapsed.
        const { leases } = this.deps;
        if (leases.heartbeat && (await leases.heartbeat())) return;
        const ids = [...this.#held, ...this.#ending];
        if (ids.length === 0) return;
        const kept = new Set(await this.deps.leases.renew(ids));
        const lost = ids.filter((id) => !kept.has(id) && this.deps.runner.live(id) !== undefined);
        // Renewals came too late (a starved process, a slow database, a clock jump): another instance
        // claimed these and follows them now. Ours lets them go, so each ends (and is announced) once.
        if (lost.length > 0) this.deps.log.warn({ generations: lost }, 'another instance took over generations this one follows');
        for (const id of lost) this.deps.runner.letGo(id);
        for (const id of ids) {
          if (kept.has(id)) continue;
          this.#held.delete(id);
          this.#ending.delete(id);
        }
      } catch (error) {
        this.deps.log.warn({ err: error }, 'could not renew generation leases');
      }
    })().finally(() => (this.#renewing = undefined));
    return this.#renewing;
  }

  /** Marks the ends published since the last time announced, ending their leases; kept for the next time if the store refuses. */
  async #markAnnounced(): Promise<void> {
    const ids = [...this.#ending];
    this.#ending.clear();
    if (ids.length === 0) return;
    try {
      await this.deps.leases.announced(ids);
    } catch (error) {
      for (const id of ids) this.#ending.add(id);
      this.deps.log.warn({ err: error }, 'could not mark generation ends announced; tried again with the next ones');
    }
  }

  /** Stops renewing and claiming. Call before the runner closes. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers) clearInterval(timer);
    await Promise.all([this.#claiming, this.#renewing]);
  }

  /** Gives the leases up (after the runner wrote what was pending), so a survivor claims them now. */
  async release(): Promise<void> {
    clearTimeout(this.#announceTimer);
    this.#announceTimer = undefined;
    await this.#markAnnounced();
    const ids = [...this.#held].filter((id) => this.deps.runner.live(id) !== undefined);
    this.#held.clear();
    if (ids.length === 0) return;
    try {
      await this.deps.leases.release(ids);
    } catch (error) {
      this.deps.log.warn({ err: error }, 'could not release generation leases; they run out on their own');
    }
  }
}
