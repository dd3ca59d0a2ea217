import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Storage } from '../../contracts/storage.js';
import { BootError } from '../../core/errors.js';
import { PrunedCounts } from './counters.js';
import { DataDirLock } from './data-dir-lock.js';
import type { AppenderIo } from './datafile-appender.js';
import { repairDatafileTail } from './datafile-repair.js';
import { appenderOf, closeCollection, compactCollection, openCollection, type Collection, type FileOptions } from './datastore.js';
import { NedbClientBindingStore } from './client-binding-store.js';
import { DeferredClientBindingStore, DeferredGenerationStore, DeferredIdempotencyStore, DeferredUploadStore } from './deferred-stores.js';
import { dropFinalGraph, NedbGenerationStore } from './generation-store.js';
import { NedbIdempotencyStore } from './idempotency-store.js';
import { upgradeCounters } from './legacy-counters.js';
import { NedbKeyValueStore } from './kv-store.js';
import { NedbLeaseStore } from './leases.js';
import { DeferredOutboxStore, NedbOutboxStore } from './outbox-store.js';
import { NedbUploadStore } from './upload-store.js';

export const COLLECTIONS = ['generations', 'uploads', 'kv', 'idempotency', 'bindings', 'outbox'] as const;
type CollectionName = (typeof COLLECTIONS)[number];
/** `counters`: the datafile earlier versions kept the generation counters in (read once, then deleted: legacy-counters.ts). */
type DatafileName = CollectionName | 'counters';

export interface OpenStorageOptions {
  /** Absolute data dir; the datafiles live in `<dataDir>/db/`. */
  dataDir: string;
  inMemory: boolean;
  log: Pick<Logger, 'warn' | 'info'>;
  /** fdatasync each batch of writes before it resolves (default true). */
  sync?: boolean;
  /** Replaces the datafile writes (tests inject a failing disk). */
  io?: AppenderIo;
  /** How often a long load logs how far it got (default 2 s). */
  progressEveryMs?: number;
}

export const lockPath = (dataDir: string): string => join(dataDir, 'db', 'LOCK');
export const datafilePath = (dataDir: string, name: DatafileName): string => join(dataDir, 'db', `${name}.db`);

/** A datafile is rewritten once what was appended since its last rewrite is as large as what it held then. */
const COMPACT_MIN_GROWTH_BYTES = 1 << 20;
/** How often a long load logs how far it got, unless told otherwise. */
const PROGRESS_EVERY_MS = 2000;

interface Loaded {
  generations: NedbGenerationStore;
  uploads: NedbUploadStore;
  idempotency: NedbIdempotencyStore;
  clientBindings: NedbClientBindingStore;
  outbox: NedbOutboxStore;
}

/**
 * The nedb implementation of the Storage contract: one datafile per collection, or all in memory.
 *
 * Opening is two steps. `begin` takes the data dir lock and loads the small kv collection (plugins
 * read it while they register), then returns while generations and the other collections load in the
 * background: a million rows take many seconds, longer than any register deadline should be.
 * `loaded` resolves when they are in; until then isOpen() is false and calls to generations and
 * uploads wait for it. `open` does both steps.
 */
export class NedbStorage implements Storage {
  #loaded: Loaded | undefined;
  #closed = false;
  readonly generations: DeferredGenerationStore;
  readonly uploads: DeferredUploadStore;
  readonly leases: NedbLeaseStore;
  readonly idempotency: DeferredIdempotencyStore;
  readonly clientBindings: DeferredClientBindingStore;
  readonly outbox: DeferredOutboxStore;
  /** Resolves once every datafile is loaded; rejects with a BootError naming the file that could not be. */
  readonly loaded: Promise<void>;
  /** Whether a resolved write is on the disk (contracts/storage.ts): set by begin from its options. */
  syncsWrites = true;
  /** Sizes of the datafiles when the last compaction (or the open) left them. */
  readonly #baseSizes = new Map<CollectionName, number>();

  private constructor(
    readonly kv: NedbKeyValueStore,
    private readonly collections: Partial<Record<CollectionName, Collection>>,
    private readonly lock: DataDirLock | null,
    loading: Promise<Loaded>,
  ) {
    const ready = loading.then((loaded) => (this.#loaded = loaded));
    this.generations = new DeferredGenerationStore(ready.then((loaded) => loaded.generations));
    this.uploads = new DeferredUploadStore(ready.then((loaded) => loaded.uploads));
    // Chained here, before any caller can queue an insert: what is unfinished now, an earlier run left.
    const orphans = ready.then((loaded) => loaded.generations.unfinished()).then((gens) => gens.map((gen) => gen.id));
    orphans.catch(() => undefined);
    this.leases = new NedbLeaseStore(this.generations, orphans);
    this.idempotency = new DeferredIdempotencyStore(ready.then((loaded) => loaded.idempotency));
    this.clientBindings = new DeferredClientBindingStore(ready.then((loaded) => loaded.clientBindings));
    this.outbox = new DeferredOutboxStore(ready.then((loaded) => loaded.outbox));
    this.loaded = ready.then(() => undefined);
    this.loaded.catch(() => undefined); // reported to whoever awaits it (the plugin's ready step, open())
  }

  /** Opens and loads everything. */
  static async open(options: OpenStorageOptions): Promise<NedbStorage> {
    const storage = await NedbStorage.begin(options);
    try {
      await storage.loaded;
    } catch (error) {
      await storage.close();
      throw error;
    }
    return storage;
  }

  /** Takes the lock and loads kv; the rest loads in the background (see `loaded`). */
  static async begin(options: OpenStorageOptions): Promise<NedbStorage> {
    let lock: DataDirLock | null = null;
    if (!options.inMemory) {
      const dir = join(options.dataDir, 'db');
      try {
        await mkdir(dir, { recursive: true });
        lock = await DataDirLock.acquire(lockPath(options.dataDir), options.dataDir);
      } catch (error) {
        throw unusableDir(dir, error);
      }
    }
    const collections: Partial<Record<CollectionName, Collection>> = {};
    try {
      collections.kv = await openOne('kv', options);
    } catch (error) {
      await lock?.release();
      throw error;
    }
    const loading = (async (): Promise<Loaded> => {
      const pruned = new PrunedCounts();
      let rows: Record<string, unknown>[] | undefined;
      const lines = {
        onLoadLine: (doc: Record<string, unknown>) => {
          pruned.observe(doc);
          dropFinalGraph(doc);
        },
        onLoaded: (loaded: Record<string, unknown>[]) => (rows = loaded),
      };
      collections.generations = await openOne('generations', options, lines);
      const generations = await NedbGenerationStore.open(collections.generations, pruned, rows);
      rows = undefined; // the load's hooks stay with the collection: they keep no array of its rows
      if (!options.inMemory) await upgradeCounters(datafilePath(options.dataDir, 'counters'), generations, pruned, options.log);
      collections.uploads = await openOne('uploads', options);
      const uploads = await NedbUploadStore.open(collections.uploads);
      collections.idempotency = await openOne('idempotency', options);
      const idempotency = await NedbIdempotencyStore.open(collections.idempotency);
      collections.bindings = await openOne('bindings', options);
      const clientBindings = await NedbClientBindingStore.open(collections.bindings);
      collections.outbox = await openOne('outbox', options);
      const outbox = await NedbOutboxStore.open(collections.outbox, (id) => generations.get(id));
      generations.observeStateChanges((gen) => outbox.derive(gen));
      return { generations, uploads, idempotency, clientBindings, outbox };
    })();
    const storage = new NedbStorage(new NedbKeyValueStore(collections.kv), collections, lock, loading);
    storage.syncsWrites = options.inMemory !== true && options.sync !== false;
    if (!options.inMemory) {
      void loading.then(() => {
        // The lines held, not the file's length (its zeroed tail is no growth).
        for (const name of COLLECTIONS) {
          const collection = collections[name];
          storage.#baseSizes.set(name, (collection && appenderOf(collection)?.size) ?? 0);
        }
      }, () => undefined);
    }
    return storage;
  }

  isOpen(): boolean {
    return this.#loaded !== undefined && !this.#closed;
  }

  /**
   * Rewrites datafiles to one line per row (nedb appends a line per change). `onlyIfGrown`: only
   * those that grew by at least their size at the previous rewrite (and 1 MiB), so the cost of
   * rewriting stays proportional to what was written since, however large the store.
   */
  async compact(options: { onlyIfGrown?: boolean } = {}): Promise<CollectionName[]> {
    const done: CollectionName[] = [];
    if (this.lock === null || this.#closed) return done;
    await this.loaded;
    for (const name of COLLECTIONS) {
      const collection = this.collections[name];
      const appender = collection && appenderOf(collection);
      if (!collection || !appender) continue;
      const base = this.#baseSizes.get(name) ?? 0;
      const grown = appender.size - base;
      if (options.onlyIfGrown && (grown < COMPACT_MIN_GROWTH_BYTES || grown < base)) continue;
      // The generations datafile carries the pruned counts after its rows (counters.ts).
      const trailer = name === 'generations' ? () => this.#loaded!.generations.prunedLine() : undefined;
      if (await compactCollection(collection, trailer)) {
        this.#baseSizes.set(name, appender.size);
        done.push(name);
      }
    }
    return done;
  }

  /**
   * Waits for queued writes, closes the datafiles and releases the data dir. A compaction in
   * progress is abandoned (the datafile it would replace is whole); nothing is compacted here, so
   * closing takes as long as the last writes, not as long as the store is large.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      // A load cannot be cut short; a close during it waits for it (or for its failure).
      await this.loaded.catch(() => undefined);
      // All at once: each close abandons its compaction before waiting for its writes.
      await Promise.all(COLLECTIONS.map(async (name) => {
        const collection = this.collections[name];
        if (collection) await closeCollection(collection);
      }));
    } finally {
      await this.lock?.release();
    }
  }
}

async function sizeOf(file: string): Promise<number> {
  return stat(file).then(
    (s) => s.size,
    () => 0,
  );
}

async function openOne(name: CollectionName, options: OpenStorageOptions, hooks: Pick<FileOptions, 'onLoadLine' | 'onLoaded'> = {}): Promise<Collection> {
  if (options.inMemory) return openCollection(null);
  const file = datafilePath(options.dataDir, name);
  const repair = await repairDatafileTail(file);
  if (repair.droppedBytes > 0) {
    options.log.warn({ file, droppedBytes: repair.droppedBytes }, `dropped a torn last line (${repair.droppedBytes} bytes) from ${file}`);
  }
  const size = await sizeOf(file);
  const every = options.progressEveryMs ?? PROGRESS_EVERY_MS;
  const started = Date.now();
  let lastReport = started;
  const onLoadProgress = (bytesRead: number): void => {
    const now = Date.now();
    if (now - lastReport < every) return;
    lastReport = now;
    options.log.info(
      { file, bytesRead, bytes: size },
      `loading ${name}: ${mib(bytesRead)} of ${mib(size)} MiB read (${Math.round((100 * bytesRead) / Math.max(size, 1))} %)`,
    );
  };
  try {
    // Generation rows hold strings, numbers and plain objects only (generation-store.ts's toDoc).
    const noDates = name === 'generations';
    const collection = await openCollection(file, { sync: options.sync ?? true, io: options.io, onLoadProgress, ...hooks, noDates });
    const ms = Date.now() - started;
    if (ms >= every) options.log.info({ file, bytes: size, ms }, `loaded ${name} (${mib(size)} MiB) in ${(ms / 1000).toFixed(1)} s`);
    return collection;
  } catch (error) {
    throw new BootError(`cannot open the ${name} datafile ${file}: ${(error as Error).message}`, { cause: error });
  }
}

/** One clear line for a data dir the bridge cannot write (read-only, no permission, disk full), instead of a stack trace. */
function unusableDir(dir: string, error: unknown): unknown {
  if (error instanceof BootError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  const why =
    code === 'EROFS' ? 'is on a read-only filesystem' : code === 'EACCES' || code === 'EPERM' ? 'is not writable by this user' : code === 'ENOSPC' ? 'is on a full disk' : `cannot be used (${code ?? (error as Error).message})`;
  return new BootError(`data dir ${dir} ${why}: the bridge needs to write its database there`, { cause: error });
}

const mib = (bytes: number): string => (bytes / (1 << 20)).toFixed(0);
