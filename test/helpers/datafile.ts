import { readFileSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';

/**
 * A storage-nedb datafile is its lines followed by zeros (plugins/storage-nedb/datafile-tail.ts): its text
 * ends at the first NUL byte.
 */
const lines = (bytes: Buffer): string => {
  const nul = bytes.indexOf(0);
  return bytes.toString('utf8', 0, nul === -1 ? bytes.length : nul);
};

/** The datafile's lines, without its zeroed tail. */
export const datafileText = async (file: string): Promise<string> => lines(await readFile(file));

/** The datafile's lines, read synchronously (the moment a write resolved). */
export const datafileTextSync = (file: string): string => lines(readFileSync(file));

/** Writes `text` where the lines end, into the tail, as the bridge's appender does (a torn line a crash left, a line of an older version). */
export async function appendToDatafile(file: string, text: string): Promise<void> {
  const at = Buffer.byteLength(await datafileText(file));
  const handle = await open(file, 'r+');
  try {
    await handle.write(text, at, 'utf8');
  } finally {
    await handle.close();
  }
}

/** Zeroes the lines from byte `at` on, keeping the file's length: what a crash in the middle of a write into the tail leaves. */
export async function cutDatafileAt(file: string, at: number): Promise<void> {
  const end = Buffer.byteLength(await datafileText(file));
  const handle = await open(file, 'r+');
  try {
    if (end > at) await handle.write(Buffer.alloc(end - at), 0, end - at, at);
  } finally {
    await handle.close();
  }
}
