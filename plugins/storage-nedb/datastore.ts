import Datastore from 'nedb-promises';
import type { Readable } from 'node:stream';
import { DatafileAppender, type AppenderIo, type PendingWrite, type Undo } from './datafile-appender.js';
import { readDatafileAt, type LoadedDatafile } from './datafile-load.js';
import { fillSortedIdIndex, idRows, type NedbIndexLike } from './id-index-build.js';
import { markLife } from '../../contracts/life-marks.js';
import { copyOf, modifiedBySet } from './set-update.js';

/** A nedb-promises datastore of one collection. */
export type Collection = Datastore<{ _id: string }>;

type Doc = Record<string, unknown>;
type Modification = { oldDoc: Doc; newDoc: Doc };

/**
 * The parts of @seald-io/nedb 4's Persistence this module replaces or reads. Four costs or risks of
 * nedb's file handling are taken over here, each keeping nedb's datafile format byte for byte:
 *  - the append of every change (open, write, close, one change at a time) → one open file with
 *    group commit (datafile-appender.ts);
 *  - the parse of the datafile at load (a reviver and a promise per line) → datafile-load.ts;
 *  - the _id index filled at load one insert at a time → one balanced tree (id-index-build.ts);
 *  - the full rewrite of the datafile at every load → skipped (see openCollection);
 *  - the compaction (an await per row, then the handle of the replaced file) → compactCollection.
 */
interface NedbPersistence {
  inMemoryOnly: boolean;
  filename: string;
  modes: { fileMode: number };
  persistNewStateAsync(docs: Doc[]): Promise<void>;
  persistCachedDatabaseAsync(): Promise<void>;
  treatRawStreamAsync(stream: Readable): Promise<LoadedDatafile>;
  corruptAlertThreshold: number;
}

interface NedbIndex {
  fieldName: string;
  unique: boolean;
  sparse: boolean;
  getMatching(value: unknown): Doc[];
}

/**
 * Members of the underlying @seald-io/nedb datastore that nedb-promises does not type but forwards
 * through its proxy: the in-memory rows and indexes, the persistence whose appends are replaced,
 * and the internal steps that change memory (wrapped to record how to undo a change whose line
 * could not be written).
 */
interface NedbInternals {
  getAllData(): Doc[];
  removeIndexAsync(fieldName: string): Promise<void>;
  indexes: Record<string, NedbIndex>;
  ttlIndexes: Record<string, number>;
  persistence: NedbPersistence;
  _addToIndexes(doc: Doc): void;
  _removeFromIndexes(doc: Doc): void;
  _updateIndexes(oldDoc: Doc | Modification[], newDoc?: Doc): void;
  _insertAsync(doc: unknown): Promise<unknown>;
  _prepareDocumentForInsertion(doc: unknown): Doc | Doc[];
  _insertInCache(prepared: Doc | Doc[]): void;
  _updateAsync(query: unknown, update: unknown, options: unknown): Promise<unknown>;
  _removeAsync(query: unknown, options: unknown): Promise<unknown>;
}

export const internals = (collection: Collection): NedbInternals => collection as unknown as NedbInternals;

/**
 * The @seald-io/nedb datastore itself. Reads may go through nedb-promises' proxy, but a method
 * replaced through it lands on the proxy's target, where nedb's own `this._insertAsync(...)` calls
 * never look: replacements are set here.
 */
const original = (collection: Collection): NedbInternals => (collection as unknown as { __original: NedbInternals }).__original;

export interface FileOptions {
  /** fdatasync every batch of appended lines before its writes resolve. */
  sync: boolean;
  /** Replaces the appender's write and sync (tests inject a failing disk). */
  io?: AppenderIo;
  /** Called while the datafile is read, with the bytes read so far. */
  onLoadProgress?: (bytesRead: number) => void;
  /** Sees every line of the datafile as it is read, in file order (lines nedb skips included). */
  onLoadLine?: (doc: Doc) => void;
  /** Handed the rows the load put in memory: the array given to nedb (in the order its loader keeps them, not necessarily by _id). */
  onLoaded?: (rows: Doc[]) => void;
  /** The rows never hold a Date: lines are plain JSON.stringify, without nedb's date replacer (a call per key). */
  noDates?: boolean;
}

/**
 * Told of each row a remove takes out of memory, in the same synchronous step (so a compaction's
 * snapshot never sees one without the other). Returns fields added to the row's delete line and
 * how to take the observer's change back if that line is refused.
 */
export type RemovalObserver = (removed: Doc) => { mark: Doc; undo: Undo };

const appenders = new WeakMap<Collection, DatafileAppender>();
const removalObservers = new WeakMap<Collection, RemovalObserver>();

/** Sets the collection's removal observer (one per collection). */
export function observeRemovals(collection: Collection, observer: RemovalObserver): void {
  removalObservers.set(collection, observer);
}

/** The current row with this _id in memory (no copy: do not mutate). */
export function rawDoc(collection: Collection, id: string): Doc | undefined {
  return internals(collection).indexes._id?.getMatching(id)[0];
}

/** nedb's own line format (model.serialize): JSON, with dates as {"$$date": ms}. */
function serialize(doc: Doc): string {
  return JSON.stringify(doc, function (this: Doc, key, value: unknown) {
    const raw = this[key];
    return raw instanceof Date ? { $$date: raw.getTime() } : value;
  });
}

/**
 * Sends the collection's appends to a DatafileAppender and makes insert/update/remove resolve
 * only once their own lines are written (each write waits for its batch, not for later ones), or
 * reject with `storage_unavailable` after their in-memory change has been undone.
 *
 * nedb changes memory first and then hands the changed rows to persistNewStateAsync, inside its
 * one-at-a-time executor. The memory steps (_addToIndexes, _removeFromIndexes, _updateIndexes) are
 * wrapped to journal their inverse while a write operation runs; the journal travels with the
 * operation's lines, so a refused batch can be undone. The batch of an operation is found again
 * through the options (or document) object the caller handed in, which nedb passes down unchanged.
 */
function routeWrites(collection: Collection, appender: DatafileAppender | null, noDates = false): void {
  const toLine = noDates ? (doc: Doc) => JSON.stringify(doc) : serialize;
  const db = original(collection);
  let depth = 0;
  let removing = 0;
  let journal: Undo[] | null = null;
  let written: PendingWrite | undefined;
  /** The operation running now asked to be on the disk when it resolves (not `lazy`: see lazyWrite). */
  let durable = true;
  const batches = new WeakMap<object, PendingWrite>();
  /** Fields the removal observer adds to the delete lines of the operation running now. */
  const marks = new Map<unknown, Doc>();

  const add = db._addToIndexes.bind(db);
  const remove = db._removeFromIndexes.bind(db);
  const update = db._updateIndexes.bind(db);
  db._addToIndexes = (doc) => {
    add(doc);
    journal?.push(() => remove(doc));
  };
  db._removeFromIndexes = (doc) => {
    remove(doc);
    journal?.push(() => add(doc));
    const observer = removing > 0 ? removalObservers.get(collection) : undefined;
    if (observer) {
      const { mark, undo } = observer(doc);
      marks.set(doc._id, mark);
      journal?.push(undo);
    }
  };
  db._updateIndexes = (oldDoc, newDoc) => {
    update(oldDoc, newDoc);
    if (Array.isArray(oldDoc)) {
      const reverse = oldDoc.map((m) => ({ oldDoc: m.newDoc, newDoc: m.oldDoc }));
      journal?.push(() => update(reverse));
    } else journal?.push(() => update(newDoc as Doc, oldDoc));
  };

  const operations = [
    ['_insertAsync', 0],
    ['_updateAsync', 2],
    ['_removeAsync', 1],
  ] as const;
  // nedb's _insertAsync ends with a deep copy of the stored rows, to return: an insert here returns nothing (writes.insert
  // below), so a caller's insert skips that copy. An upsert's insert (inside _updateAsync) keeps nedb's own.
  const runInsert = (db._insertAsync as (doc: unknown) => Promise<unknown>).bind(db);
  const insertUncopied = async (doc: unknown): Promise<undefined> => {
    const prepared = db._prepareDocumentForInsertion(doc);
    db._insertInCache(prepared);
    await db.persistence.persistNewStateAsync(Array.isArray(prepared) ? prepared : [prepared]);
    return undefined;
  };
  // An update of one row by its _id that only sets or unsets fields (every write of a generation, outbox
  // delivery, upload…) skips nedb's query scan, its copy of the whole row and, when _id is the only index,
  // the index's remove and re-insert of the row under the same key: the row's place in the tree takes the
  // new row. Same row, same line, same journal of how to undo it (set-update.ts).
  const runUpdate = (db._updateAsync as (query: unknown, update: unknown, options: unknown) => Promise<unknown>).bind(db);
  const updateById = async (query: unknown, change: unknown, options: unknown): Promise<unknown> => {
    const id = typeof query === 'object' && query !== null && Object.keys(query).length === 1 ? (query as Doc)._id : undefined;
    const { multi, upsert, returnUpdatedDocs } = options as { multi?: boolean; upsert?: boolean; returnUpdatedDocs?: boolean };
    const ids = db.indexes._id!;
    const rows = typeof id === 'string' && !multi && !upsert && Object.keys(db.ttlIndexes).length === 0 ? (idRows(ids as unknown as NedbIndexLike, id) ?? ids.getMatching(id)) : [];
    const old = rows[0];
    const row = old && typeof change === 'object' && change !== null ? modifiedBySet(old, change as Doc) : undefined;
    if (!old || !row) return runUpdate(query, change, options);
    if (Object.keys(db.indexes).length === 1) {
      rows[0] = row; // the _id index's own array for this key (nedb's tree hands it out, unique: one row)
      journal?.push(() => update(row, old));
    } else db._updateIndexes(old, row);
    await db.persistence.persistNewStateAsync([row]);
    return { numAffected: 1, upsert: false, affectedDocuments: returnUpdatedDocs ? copyOf(row) : null };
  };
  for (const [name, keyAt] of operations) {
    const run =
      name === '_insertAsync'
        ? (doc: unknown) => (depth === 1 ? insertUncopied(doc) : runInsert(doc))
        : name === '_updateAsync'
          ? updateById
          : (db[name] as (...args: unknown[]) => Promise<unknown>).bind(db);
    (db as unknown as Record<string, unknown>)[name] = async (...args: unknown[]) => {
      // An upsert runs _insertAsync inside _updateAsync: only the outermost call owns the journal.
      const outermost = depth === 0;
      if (outermost) {
        journal = [];
        written = undefined;
        const given = args[keyAt];
        durable = !(typeof given === 'object' && given !== null && (given as Doc)[LAZY] === true);
      }
      depth++;
      if (name === '_removeAsync') removing++;
      try {
        const result = await run(...args);
        const key = args[keyAt];
        if (outermost && written && typeof key === 'object' && key !== null) batches.set(key, written);
        return result;
      } finally {
        depth--;
        if (name === '_removeAsync' && --removing === 0) marks.clear();
        // A throwing operation changed nothing (nedb rolls its own memory change back): drop its journal.
        if (outermost) journal = null;
      }
    };
  }

  db.persistence.persistNewStateAsync = (docs) => {
    if (appender === null) {
      if (journal) journal = [];
      return Promise.resolve();
    }
    let lines = '';
    for (const doc of docs) {
      const mark = doc.$$deleted === true ? marks.get(doc._id) : undefined;
      lines += `${toLine(mark ? { ...doc, ...mark } : doc)}\n`; // no afterSerialization hook is configured
    }
    const undo = journal ?? [];
    if (journal) journal = [];
    markLife('nedb: line made');
    const batch = appender.push(lines, undo, docs.length, depth === 0 || durable);
    if (depth > 0) written = batch;
    else batch.catch(() => undefined); // index lines written at open: nobody awaits them
    return Promise.resolve();
  };

  const waitFor = async (key: object): Promise<void> => {
    const batch = batches.get(key);
    batches.delete(key);
    await batch;
  };
  const writes = collection as unknown as Record<'insert' | 'update' | 'remove', (...args: unknown[]) => Promise<unknown>>;
  const insert = writes.insert.bind(collection);
  const modify = writes.update.bind(collection);
  const drop = writes.remove.bind(collection);
  writes.insert = async (docs: unknown, onFile?: unknown) => {
    const inFile = typeof onFile === 'function' ? (onFile as () => void) : undefined;
    // A fresh object per call: the key that finds this operation's batch again.
    const key = Array.isArray(docs) ? [...(docs as unknown[])] : { ...(docs as Doc) };
    try {
      await insert(key);
      return undefined;
    } finally {
      if (inFile) void batches.get(key)?.inFile.then(inFile);
      await waitFor(key);
    }
  };
  writes.update = async (query: unknown, change: unknown, options?: unknown) => {
    const key = { ...(options as Doc | undefined) };
    try {
      return await modify(query, change, key);
    } finally {
      await waitFor(key);
    }
  };
  writes.remove = async (query: unknown, options?: unknown) => {
    const key = { ...(options as Doc | undefined) };
    try {
      return await drop(query, key);
    } finally {
      await waitFor(key);
    }
  };
  if (appender) appenders.set(collection, appender);
}

/**
 * Inserts like `collection.insert`, and calls `inFile` once the row's line is in the datafile, before
 * its fdatasync: from then on a kill of this process cannot lose it (a power loss still can, until the
 * insert resolves). In memory, or when the insert is refused, never called.
 */
export function insertReportingFile(collection: Collection, doc: object, inFile: () => void): Promise<unknown> {
  return (collection.insert as unknown as (doc: object, inFile: () => void) => Promise<unknown>)(doc, inFile);
}

/** The option that makes an update lazy (nedb ignores options it does not know; its own are plain words). */
const LAZY = '$$lazy';

/**
 * The options of an update whose line may reach the disk after it resolves: in the datafile then (a kill
 * of the process cannot lose it), on the disk with the next durable write or LAZY_SYNC_MS later
 * (datafile-appender.ts). For changes nobody waits for; a power loss may take the last of them back.
 */
export function lazyWrite<T extends object>(options: T): T {
  return { ...options, [LAZY]: true };
}

/** Opens one collection: in memory, or backed by `filename` (loaded now, so load errors surface at start). */
export async function openCollection(filename: string | null, options: FileOptions = { sync: true }): Promise<Collection> {
  const collection = filename === null ? Datastore.create({ inMemoryOnly: true }) : Datastore.create({ filename });
  if (filename === null) {
    await collection.load();
    routeWrites(collection, null);
    return collection;
  }
  // nedb rewrites the whole datafile at every load (a compaction: serialize every row, write, fsync,
  // rename): over a second for 100k rows, before the bridge can listen. The file it read is already a
  // valid log, so the load skips it; compaction runs later, when the file has grown enough to need it.
  const persistence = internals(collection).persistence;
  let loaded: LoadedDatafile | undefined;
  /** Where the lines the load read end: the appender writes from there, into the zeroed tail. */
  let logicalEnd: number | undefined;
  // nedb hands over a stream of the file in 64 KiB chunks; the file is read in large blocks instead.
  persistence.treatRawStreamAsync = async (stream) => {
    stream.destroy();
    loaded = await readDatafileAt(filename, persistence.corruptAlertThreshold, options.onLoadProgress, options.onLoadLine);
    logicalEnd = loaded.end;
    return loaded;
  };
  const compact = persistence.persistCachedDatabaseAsync;
  persistence.persistCachedDatabaseAsync = () => Promise.resolve();
  // nedb then fills every index with the rows read, one insert each; the _id index is built at once.
  const idIndex = original(collection).indexes._id as unknown as NedbIndexLike;
  const reset = idIndex.reset;
  idIndex.reset = (newData) => {
    reset.call(idIndex);
    if (newData === undefined) return;
    const sorted = loaded !== undefined && newData === loaded.data ? loaded.sortedById() : undefined;
    if (!sorted || !fillSortedIdIndex(idIndex, sorted, true)) reset.call(idIndex, newData);
  };
  try {
    await collection.load();
    if (loaded) options.onLoaded?.(loaded.data);
  } finally {
    persistence.persistCachedDatabaseAsync = compact;
    delete (idIndex as Partial<NedbIndexLike>).reset; // back to nedb's own (on the prototype)
    loaded = undefined;
  }
  const appender = await DatafileAppender.open(filename, persistence.modes.fileMode, { sync: options.sync, io: options.io }, logicalEnd);
  routeWrites(collection, appender, options.noDates);
  return collection;
}

/** The datafile's writer (undefined in memory). */
export const appenderOf = (collection: Collection): DatafileAppender | undefined => appenders.get(collection);

/**
 * Rewrites the datafile to one line per row (nedb appends a line per change), as nedb's compaction
 * does but without its await per row, in 1 MiB writes that leave the event loop free between them,
 * and without losing the open handle. The rows are taken from memory at one instant; nedb replaces
 * a row's object on every change, never mutates it, so the snapshot stays as it was taken.
 */
export async function compactCollection(collection: Collection, trailer?: () => string): Promise<boolean> {
  const appender = appenders.get(collection);
  if (!appender) return false;
  const db = internals(collection);
  return appender.compact(() => {
    const rows = db.getAllData();
    const indexLines = Object.entries(db.indexes)
      .filter(([fieldName]) => fieldName !== '_id') // nedb keeps _id itself; the others are declared in the file
      .map(([, index]) => `${serialize({ $$indexCreated: { fieldName: index.fieldName, unique: index.unique, sparse: index.sparse } })}\n`);
    // Taken at the same instant as the rows: what the owner keeps beside them (pruned counts).
    const extra = trailer?.() ?? '';
    return (function* () {
      for (const row of rows) yield `${serialize(row)}\n`;
      yield* indexLines;
      if (extra !== '') yield extra;
    })();
  });
}

/**
 * Appends `line` (ending in "\n") to the datafile, for what the owner keeps beside nedb's rows;
 * resolves once it is written (on disk with sync). Nothing in memory: nothing to undo. In memory: no-op.
 */
export function appendLine(collection: Collection, line: string): Promise<void> {
  return appenders.get(collection)?.push(line, [], 1) ?? Promise.resolve();
}

/**
 * Waits for the writes already asked for and closes the datafile (nothing is compacted at close).
 * nedb runs operations one at a time in call order: a lookup queued now ends after every write
 * asked for before it has handed its lines to the appender, which close then waits for.
 */
export async function closeCollection(collection: Collection): Promise<void> {
  const appender = appenders.get(collection);
  if (!appender) return;
  await collection.findOne({ _id: '' }).catch(() => undefined);
  await appender.close();
}
