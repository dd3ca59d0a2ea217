import { open } from 'node:fs/promises';

type Row = Record<string, unknown> & { _id?: unknown; $$deleted?: unknown; $$indexCreated?: { fieldName?: unknown }; $$indexRemoved?: unknown };

export interface LoadedDatafile {
  data: Record<string, unknown>[];
  indexes: Record<string, unknown>;
  /**
   * The rows in strictly ascending `_id` order, every id a string (no copy when `data` already is), or undefined
   * when an id is not a string (nedb orders other types its own way): what the _id index is built from.
   */
  sortedById(): Record<string, unknown>[] | undefined;
  /** Where the lines end (the logical size: the zeroed tail and anything after its first NUL excluded). */
  end: number;
}

/** nedb's date encoding ({"$$date": ms}), decoded as its model.deserialize does. */
function reviveDates(key: string, value: unknown): unknown {
  if (key === '$$date') return new Date(value as number);
  if (value !== null && typeof value === 'object' && '$$date' in value) return (value as { $$date: unknown }).$$date;
  return value;
}

/**
 * What nedb's Persistence.treatRawStreamAsync computes from a datafile — the last version of every
 * row, the indexes declared, and the same refusal when more than `corruptAlertThreshold` of the
 * lines do not parse — line by line, in file order. A line is parsed with the reviver only when it
 * holds a date. `onLine` sees every parsed line in file order (lines nedb skips included).
 *
 * The rows are kept in an array while their string ids only ascend (a compacted datafile: nedb
 * writes its rows in _id order), which is what the load hands on; the first id out of order, a
 * repeated one or a deletion moves them into a Map (last version wins), as nedb keeps them.
 */
class DatafileLines {
  #ordered: Row[] | null = [];
  #lastId = '';
  #rows: Map<unknown, Row> | null = null;
  readonly #indexes: Record<string, unknown> = {};
  #lines = 0;
  #corrupt = 0;

  constructor(
    private readonly corruptAlertThreshold: number,
    private readonly onLine?: (doc: Record<string, unknown>) => void,
  ) {}

  /** Every line of a block, in order. `mayHoldDates`: false when the block has no `"$$date"`, so none of its lines has. */
  takeBlock(text: string, mayHoldDates: boolean): void {
    for (const line of text.split('\n')) this.take(line, mayHoldDates);
  }

  take(line: string, mayHoldDates = true): void {
    if (line === '') return;
    this.#lines++;
    let doc: Row;
    try {
      doc = (mayHoldDates && line.includes('"$$date"') ? JSON.parse(line, reviveDates) : JSON.parse(line)) as Row;
    } catch {
      this.#corrupt++;
      return;
    }
    if (doc === null) {
      this.#corrupt++; // nedb fails reading null._id and counts the line corrupt
      return;
    }
    if (typeof doc !== 'object') return;
    this.onLine?.(doc);
    const id = doc._id;
    if (id) {
      const ordered = this.#ordered;
      if (ordered !== null && typeof id === 'string' && id > this.#lastId && doc.$$deleted !== true) {
        ordered.push(doc);
        this.#lastId = id;
        return;
      }
      const rows = this.#rows ?? this.#unordered();
      if (doc.$$deleted === true) rows.delete(id);
      else rows.set(id, doc);
    } else if (doc.$$indexCreated && doc.$$indexCreated.fieldName != null) {
      this.#indexes[doc.$$indexCreated.fieldName as string] = doc.$$indexCreated;
    } else if (typeof doc.$$indexRemoved === 'string') {
      delete this.#indexes[doc.$$indexRemoved];
    }
  }

  #unordered(): Map<unknown, Row> {
    const rows = new Map<unknown, Row>();
    for (const row of this.#ordered ?? []) rows.set(row._id, row);
    this.#ordered = null;
    return (this.#rows = rows);
  }

  result(end: number): LoadedDatafile {
    if (this.#lines > 0 && this.#corrupt / this.#lines > this.corruptAlertThreshold) {
      const rate = this.#corrupt / this.#lines;
      throw Object.assign(
        new Error(
          `${Math.floor(100 * rate)}% of the data file is corrupt, more than given corruptAlertThreshold (${Math.floor(100 * this.corruptAlertThreshold)}%). Cautiously refusing to start NeDB to prevent dataloss.`,
        ),
        { corruptionRate: rate, corruptItems: this.#corrupt, dataLength: this.#lines },
      );
    }
    const ordered = this.#ordered;
    if (ordered !== null) return { data: ordered, indexes: this.#indexes, sortedById: () => ordered, end };
    const rows = this.#rows as Map<unknown, Row>;
    const sortedById = (): Row[] | undefined => {
      const ids = [...rows.keys()];
      // The default sort compares strings by UTF-16 code units, as nedb's compareThings does with < and >.
      if (!ids.every((id) => typeof id === 'string')) return undefined;
      return ids.sort().map((id) => rows.get(id) as Row);
    };
    return { data: [...rows.values()], indexes: this.#indexes, sortedById, end };
  }
}

/** Bytes read from the datafile at a time (a line longer than this grows the buffer). */
const READ_BYTES = 1 << 20;

/**
 * Reads a datafile in large blocks: a block is cut at its last newline and decoded at once (a newline
 * never falls inside a UTF-8 sequence), without the 64 KiB chunks, string concatenations and promise per
 * chunk of the stream nedb would hand over.
 *
 * Stops at the first NUL byte, where the zeroed tail begins (datafile-tail.ts): the lines end at the last
 * "\n" before it. What lies between that newline and the NUL is a line a power loss cut (its end never
 * reached the disk; the repair at start has already handled a cut line followed by zeros) and is not read.
 */
export async function readDatafileAt(
  file: string,
  corruptAlertThreshold: number,
  onProgress?: (bytesRead: number) => void,
  onLine?: (doc: Record<string, unknown>) => void,
  blockBytes = READ_BYTES,
): Promise<LoadedDatafile> {
  const lines = new DatafileLines(corruptAlertThreshold, onLine);
  /** Bytes handed to `lines` (the logical end so far). */
  let taken = 0;
  const handle = await open(file, 'r');
  try {
    let buffer = Buffer.allocUnsafe(blockBytes);
    let filled = 0;
    let bytesRead = 0;
    let zeroed = false;
    for (;;) {
      if (filled === buffer.length) {
        const larger = Buffer.allocUnsafe(buffer.length * 2);
        buffer.copy(larger, 0, 0, filled);
        buffer = larger;
      }
      const { bytesRead: read } = await handle.read(buffer, filled, buffer.length - filled, null);
      if (read === 0) break;
      const nul = buffer.subarray(0, filled + read).indexOf(0, filled);
      filled = nul === -1 ? filled + read : nul;
      bytesRead += read;
      onProgress?.(bytesRead);
      // (At 0, lastIndexOf would take -1 as "from the end" and search bytes not read.)
      const newline = filled > 0 ? buffer.lastIndexOf(0x0a, filled - 1) : -1;
      if (newline !== -1) {
        // One search of the whole block for nedb's date key instead of one per line (a line is a part of the block).
        const text = buffer.toString('utf8', 0, newline);
        lines.takeBlock(text, text.includes('"$$date"'));
        buffer.copy(buffer, 0, newline + 1, filled);
        filled -= newline + 1;
        taken += newline + 1;
      }
      if (nul !== -1) {
        zeroed = true;
        break;
      }
    }
    // A last line without its newline and no tail after it: read as nedb would (the repair at start has
    // already cut it or given it its newline).
    if (filled > 0 && !zeroed) {
      lines.take(buffer.toString('utf8', 0, filled));
      taken += filled;
    }
  } finally {
    await handle.close();
  }
  return lines.result(taken);
}
