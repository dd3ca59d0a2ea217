import Datastore from 'nedb-promises';
import type { Readable } from 'node:stream';
import { AppendBuffer } from './append-buffer.js';
import { readDatafile, type LoadedDatafile } from './datafile-load.js';

/** A nedb-promises datastore of one collection. */
export type Collection = Datastore<{ _id: string }>;

/**
 * The parts of @seald-io/nedb 4's Persistence this module replaces or reads. Three costs of nedb's
 * file handling are taken over here, each keeping nedb's datafile format byte for byte:
 *  - the append of every change (open, write, close, one change at a time) → group commit (append-buffer.ts);
 *  - the parse of the datafile at load (a reviver and a promise per line) → datafile-load.ts;
 *  - the full rewrite of the datafile at every load → skipped (see openCollection).
 */
interface NedbPersistence {
  inMemoryOnly: boolean;
  filename: string;
  modes: { fileMode: number };
  persistNewStateAsync(docs: Record<string, unknown>[]): Promise<void>;
  persistCachedDatabaseAsync(): Promise<void>;
  treatRawStreamAsync(stream: Readable): Promise<LoadedDatafile>;
  corruptAlertThreshold: number;
}

/**
 * Methods of the underlying @seald-io/nedb datastore that nedb-promises does not type but forwards
 * through its proxy: the awaitable compaction (nedb-promises' own compactDatafile() returns
 * nothing to await), the in-memory row list used once at load to build our indexes, and the
 * persistence whose append group commit replaces.
 */
interface NedbInternals {
  compactDatafileAsync(): Promise<void>;
  getAllData(): Record<string, unknown>[];
  removeIndexAsync(fieldName: string): Promise<void>;
  indexes: Record<string, unknown>;
  persistence: NedbPersistence;
}

export const internals = (collection: Collection): NedbInternals => collection as unknown as NedbInternals;

const buffers = new WeakMap<Collection, AppendBuffer>();

/** Resolves once every change made so far to `collection` is in its datafile (at once in memory). */
export function flushed(collection: Collection): Promise<void> {
  return buffers.get(collection)?.flushed() ?? Promise.resolve();
}

/** nedb's own line format (model.serialize): JSON, with dates as {"$$date": ms}. */
function serialize(doc: Record<string, unknown>): string {
  return JSON.stringify(doc, function (this: Record<string, unknown>, key, value: unknown) {
    const raw = this[key];
    return raw instanceof Date ? { $$date: raw.getTime() } : value;
  });
}

/**
 * Routes the collection's appends through an AppendBuffer (group commit, see there) and makes
 * insert/update/remove resolve only once their lines are written, as nedb's own appends did.
 */
function groupCommit(collection: Collection): void {
  const persistence = internals(collection).persistence;
  const buffer = new AppendBuffer(persistence.filename, persistence.modes.fileMode);
  persistence.persistNewStateAsync = (docs) => {
    let lines = '';
    for (const doc of docs) lines += `${serialize(doc)}\n`; // no afterSerialization hook is configured
    buffer.push(lines);
    return Promise.resolve();
  };
  buffers.set(collection, buffer);
  const writes = collection as unknown as Record<'insert' | 'update' | 'remove', (...args: unknown[]) => Promise<unknown>>;
  for (const method of ['insert', 'update', 'remove'] as const) {
    const write = writes[method].bind(collection);
    writes[method] = async (...args: unknown[]) => {
      const result = await write(...args);
      await buffer.flushed();
      return result;
    };
  }
}

/** Opens one collection: in memory, or backed by `filename` (loaded now, so load errors surface at start). */
export async function openCollection(filename: string | null): Promise<Collection> {
  const collection = filename === null ? Datastore.create({ inMemoryOnly: true }) : Datastore.create({ filename });
  if (filename === null) {
    await collection.load();
    return collection;
  }
  // nedb rewrites the whole datafile at every load (a compaction: serialize every row, write, fsync,
  // rename): over a second for 100k rows, before the bridge can listen. The file it read is already a
  // valid log, so the load skips it; the periodic compaction and the one at close keep the file tidy.
  const persistence = internals(collection).persistence;
  persistence.treatRawStreamAsync = (stream) => readDatafile(stream, persistence.corruptAlertThreshold);
  const compact = persistence.persistCachedDatabaseAsync;
  persistence.persistCachedDatabaseAsync = () => Promise.resolve();
  try {
    await collection.load();
  } finally {
    persistence.persistCachedDatabaseAsync = compact;
  }
  groupCommit(collection);
  return collection;
}
