import { randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { syncDirectory } from '../../contracts/directory-sync.js';
import type { HeldName, ProcessLocks } from '../../contracts/storage.js';
import { replayLogFile, type LoggedBlob, type ResultLog } from './result-log.js';

/** An instance's log in a fleet's shared data dir: `results-<16 hex>.wal`, a fresh name for each process. */
const INSTANCE_LOG = /^results-[0-9a-f]{16}\.wal$/;

/** A fresh name for this process's log. */
export function instanceLogName(): string {
  return `results-${randomBytes(8).toString('hex')}.wal`;
}

/** What one look at the other instances' logs did. */
export interface DeadLogs {
  /** The logs of processes that are gone, replayed and removed. */
  replayed: string[];
  /** Files rewritten from them. */
  restored: number;
  /** The logs of live instances, left alone. */
  live: number;
}

/**
 * The results logs of a fleet (docs/performance.md, "Results through a log, wave 12": "In a fleet"). Every instance
 * writes a log of its own in the shared data dir, its file name held for the process's life through the storage
 * (storage-postgres: a session advisory lock, which PostgreSQL drops the moment a killed process's connection
 * ends). A log whose name another process can take is a dead instance's: that process replays it (the files its rows
 * name rewritten with the logged bytes, as at a single bridge's start), removes it, and lets the name go. Each
 * instance looks at start (GET /results waits for it) and then every `deadLogCheckMs` (the plugin runs replayDead).
 */
export class FleetLogs {
  #held: HeldName | undefined;

  constructor(
    private readonly dataDir: string,
    private readonly log: ResultLog,
    private readonly locks: ProcessLocks,
    private readonly restore: (blob: LoggedBlob) => Promise<boolean>,
  ) {}

  get ownName(): string {
    return basename(this.log.path);
  }

  /**
   * Holds this process's log name, then makes the log (nothing to replay in a fresh one); `onLost` is told if the
   * hold ends, once the log has stopped taking appends (never written again where another may replay it).
   */
  async open(onLost: () => void): Promise<void> {
    const held = await this.locks.hold(this.ownName);
    this.#held = held;
    void held.lost.then(() => {
      this.log.stop();
      onLost();
    });
    await this.log.open(this.restore);
  }

  /** The logs no live process holds: replayed, removed, their names let go. A log that fails is left for the next look. */
  async replayDead(): Promise<DeadLogs> {
    const done: DeadLogs = { replayed: [], restored: 0, live: 0 };
    const names = (await readdir(this.dataDir)).filter((name) => INSTANCE_LOG.test(name) && name !== this.ownName);
    for (const name of names) {
      const taken = await this.locks.tryTake(name);
      if (!taken) {
        done.live += 1;
        continue;
      }
      try {
        const path = join(this.dataDir, name);
        // Gone meanwhile: another instance replayed it between our listing and our take.
        const restored = await replayLogFile(path, this.restore).catch((error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT') return undefined;
          throw error;
        });
        if (restored === undefined) continue;
        // The files rewritten are durable (putBytes synced them, or logged them in this process's log): the log goes.
        await rm(path, { force: true });
        await syncDirectory(this.dataDir, true);
        done.replayed.push(name);
        done.restored += restored;
      } finally {
        await taken.release();
      }
    }
    return done;
  }

  /** After the log closed (its files synced): the file removed, the name let go. */
  async close(): Promise<void> {
    const held = this.#held;
    if (!held) return;
    if (held.isHeld()) await rm(this.log.path, { force: true });
    await held.release();
  }
}
