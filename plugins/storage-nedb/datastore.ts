import Datastore from 'nedb-promises';

/** A nedb-promises datastore of one collection. */
export type Collection = Datastore<{ _id: string }>;

/**
 * Methods of the underlying @seald-io/nedb datastore that nedb-promises does not type but forwards
 * through its proxy: the awaitable compaction (nedb-promises' own compactDatafile() returns
 * nothing to await) and the in-memory row list used once at load to build our indexes.
 */
interface NedbInternals {
  compactDatafileAsync(): Promise<void>;
  getAllData(): Record<string, unknown>[];
}

export const internals = (collection: Collection): NedbInternals => collection as unknown as NedbInternals;

/** Opens one collection: in memory, or backed by `filename` (loaded now, so load errors surface at start). */
export async function openCollection(filename: string | null): Promise<Collection> {
  const collection = filename === null ? Datastore.create({ inMemoryOnly: true }) : Datastore.create({ filename });
  await collection.load();
  return collection;
}
