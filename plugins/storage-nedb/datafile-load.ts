import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

type Row = Record<string, unknown> & { _id?: unknown; $$deleted?: unknown; $$indexCreated?: { fieldName?: unknown }; $$indexRemoved?: unknown };

export interface LoadedDatafile {
  data: Record<string, unknown>[];
  indexes: Record<string, unknown>;
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
 * lines do not parse — without its cost: nedb parses every line with a reviver and chains one
 * promise per line, most of a 100k-row load. Here a line is parsed with the reviver only when it
 * holds a date. `onLine` sees every parsed line in file order (lines nedb skips included).
 */
export async function readDatafile(
  stream: Readable,
  corruptAlertThreshold: number,
  onProgress?: (bytesRead: number) => void,
  onLine?: (doc: Record<string, unknown>) => void,
): Promise<LoadedDatafile> {
  const rows = new Map<string, Row>();
  const indexes: Record<string, unknown> = {};
  let lines = 0;
  let corrupt = 0;

  const take = (line: string): void => {
    if (line === '') return;
    lines++;
    let doc: Row;
    try {
      doc = (line.includes('"$$date"') ? JSON.parse(line, reviveDates) : JSON.parse(line)) as Row;
    } catch {
      corrupt++;
      return;
    }
    if (doc === null) {
      corrupt++; // nedb fails reading null._id and counts the line corrupt
      return;
    }
    if (typeof doc !== 'object') return;
    onLine?.(doc);
    if (doc._id) {
      const id = doc._id as string;
      if (doc.$$deleted === true) rows.delete(id);
      else rows.set(id, doc);
    } else if (doc.$$indexCreated && doc.$$indexCreated.fieldName != null) {
      indexes[doc.$$indexCreated.fieldName as string] = doc.$$indexCreated;
    } else if (typeof doc.$$indexRemoved === 'string') {
      delete indexes[doc.$$indexRemoved];
    }
  };

  const decoder = new StringDecoder('utf8');
  let rest = '';
  let bytesRead = 0;
  for await (const chunk of stream as AsyncIterable<string | Buffer>) {
    if (onProgress) {
      bytesRead += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      onProgress(bytesRead);
    }
    const text = rest + (typeof chunk === 'string' ? chunk : decoder.write(chunk));
    const parts = text.split('\n');
    rest = parts.pop() ?? '';
    for (const part of parts) take(part);
  }
  take(rest + decoder.end());

  if (lines > 0 && corrupt / lines > corruptAlertThreshold) {
    const rate = corrupt / lines;
    throw Object.assign(
      new Error(
        `${Math.floor(100 * rate)}% of the data file is corrupt, more than given corruptAlertThreshold (${Math.floor(100 * corruptAlertThreshold)}%). Cautiously refusing to start NeDB to prevent dataloss.`,
      ),
      { corruptionRate: rate, corruptItems: corrupt, dataLength: lines },
    );
  }
  return { data: [...rows.values()], indexes };
}
