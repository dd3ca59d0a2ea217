import { open, stat } from 'node:fs/promises';
import { isPlainObject } from '../../lib/objects.js';
import { endOfData } from './datafile-tail.js';

export interface TailRepair {
  file: string;
  /** Bytes removed from the end of the file (0 when the tail was whole). */
  droppedBytes: number;
}

const CHUNK = 64 * 1024;

/**
 * nedb ends every row with "\n". A crash or power loss mid-append leaves a last line without one;
 * nedb counts it as corrupt and refuses to start when that is over 10% of the rows (always, for a
 * small file). Cut the file back to its last complete row before nedb reads it. An unterminated
 * last line that still parses as a whole JSON row only gets its missing newline.
 *
 * The datafile ends in zeros (its tail, datafile-tail.ts): the last line is the one before them. A cut
 * line is truncated away with the tail (the appender writes a new tail); zeros after a whole last line
 * are the tail itself and stay.
 */
export async function repairDatafileTail(file: string): Promise<TailRepair> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { file, droppedBytes: 0 };
    throw error;
  }
  if (size === 0) return { file, droppedBytes: 0 };

  const handle = await open(file, 'r+');
  try {
    const end = await endOfData(handle, size);
    const cut = await endOfLastCompleteLine(handle, end);
    if (cut === end) return { file, droppedBytes: 0 };
    const tail = Buffer.alloc(end - cut);
    await handle.read(tail, 0, tail.length, cut);
    if (isWholeRow(tail)) {
      await handle.write('\n', end);
      return { file, droppedBytes: 0 };
    }
    await handle.truncate(cut);
    await handle.sync();
    return { file, droppedBytes: end - cut };
  } finally {
    await handle.close();
  }
}

/** Offset just after the last "\n" (0 when there is none), reading backwards in chunks. */
async function endOfLastCompleteLine(handle: Awaited<ReturnType<typeof open>>, size: number): Promise<number> {
  const buffer = Buffer.alloc(CHUNK);
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - CHUNK);
    const { bytesRead } = await handle.read(buffer, 0, end - start, start);
    const newline = buffer.subarray(0, bytesRead).lastIndexOf(0x0a);
    if (newline !== -1) return start + newline + 1;
    end = start;
  }
  return 0;
}

function isWholeRow(tail: Buffer): boolean {
  try {
    const row: unknown = JSON.parse(tail.toString('utf8'));
    return isPlainObject(row);
  } catch {
    return false;
  }
}
