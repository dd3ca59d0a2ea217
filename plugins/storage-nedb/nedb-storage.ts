import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Storage } from '../../contracts/storage.js';
import { BootError } from '../../core/errors.js';
import { GenerationCounters } from './counters.js';
import { DataDirLock } from './data-dir-lock.js';
import { repairDatafileTail } from './datafile-repair.js';
import { flushed, internals, openCollection, type Collection } from './datastore.js';
import { NedbGenerationStore } from './generation-store.js';
import { NedbKeyValueStore } from './kv-store.js';
import { NedbUploadStore } from './upload-store.js';

export const COLLECTIONS = ['generations', 'uploads', 'kv', 'counters'] as const;
type CollectionName = (typeof COLLECTIONS)[number];

export interface OpenStorageOptions {
  /** Absolute data dir; the datafiles live in `<dataDir>/db/`. */
  dataDir: string;
  inMemory: boolean;
  log: Pick<Logger, 'warn' | 'info'>;
}

export const lockPath = (dataDir: string): string => join(dataDir, 'db', 'LOCK');
export const datafilePath = (dataDir: string, name: CollectionName): string => join(dataDir, 'db', `${name}.db`);

/** The nedb implementation of the Storage contract: one datafile per collection, or all in memory. */
export class NedbStorage implements Storage {
  #open = true;

  private constructor(
    readonly generations: NedbGenerationStore,
    readonly uploads: NedbUploadStore,
    readonly kv: NedbKeyValueStore,
    private readonly collections: Record<CollectionName, Collection>,
    private readonly lock: DataDirLock | null,
  ) {}

  static async open(options: OpenStorageOptions): Promise<NedbStorage> {
    let lock: DataDirLock | null = null;
    if (!options.inMemory) {
      await mkdir(join(options.dataDir, 'db'), { recursive: true });
      lock = await DataDirLock.acquire(lockPath(options.dataDir), options.dataDir);
    }
    try {
      const collections = {} as Record<CollectionName, Collection>;
      for (const name of COLLECTIONS) collections[name] = await openOne(name, options);
      const generations = await NedbGenerationStore.open(collections.generations, (rows) => GenerationCounters.open(collections.counters, rows));
      const uploads = await NedbUploadStore.open(collections.uploads);
      const kv = new NedbKeyValueStore(collections.kv);
      return new NedbStorage(generations, uploads, kv, collections, lock);
    } catch (error) {
      await lock?.release();
      throw error;
    }
  }

  isOpen(): boolean {
    return this.#open;
  }

  /** Rewrites every datafile to one line per row (nedb appends a line per change). */
  async compact(): Promise<void> {
    if (this.lock === null) return;
    for (const name of COLLECTIONS) await internals(this.collections[name]).compactDatafileAsync();
  }

  /** Compacts once more (queued after pending writes) and releases the data dir. */
  async close(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    try {
      await this.compact();
      // Group commit may still be writing lines the compaction already holds; let it finish first.
      for (const name of COLLECTIONS) await flushed(this.collections[name]).catch(() => undefined);
    } finally {
      await this.lock?.release();
    }
  }
}

async function openOne(name: CollectionName, options: OpenStorageOptions): Promise<Collection> {
  if (options.inMemory) return openCollection(null);
  const file = datafilePath(options.dataDir, name);
  const repair = await repairDatafileTail(file);
  if (repair.droppedBytes > 0) {
    options.log.warn({ file, droppedBytes: repair.droppedBytes }, `dropped a torn last line (${repair.droppedBytes} bytes) from ${file}`);
  }
  try {
    return await openCollection(file);
  } catch (error) {
    throw new BootError(`cannot open the ${name} datafile ${file}: ${(error as Error).message}`, { cause: error });
  }
}
