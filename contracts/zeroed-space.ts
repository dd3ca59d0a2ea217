import type { FileHandle } from 'node:fs/promises';

/**
 * Space written as zeros and synced ahead of its use, so that a later write into it changes neither the file's size
 * nor its block map: its fdatasync then has no ext4 journal commit to wait for, only the data blocks and the device
 * flush (PostgreSQL zero-fills its WAL segments for the same reason). Used by storage-nedb's datafile tail
 * (docs/performance.md, "The datafile's zeroed tail, wave 9") and by results' write-ahead log ("Results through a
 * log, wave 12").
 */

const SCAN = 64 * 1024;
const ZEROS = Buffer.alloc(SCAN);

/**
 * Offset just past the last byte that is not zero in [floor, size), or `floor` when all are zero:
 * where the data of a file with a zeroed tail ends. Reads backwards, so a tail costs one pass over itself.
 */
export async function endOfData(handle: FileHandle, size: number, floor = 0): Promise<number> {
  const buffer = Buffer.allocUnsafe(SCAN);
  let end = size;
  while (end > floor) {
    const start = Math.max(floor, end - SCAN);
    const { bytesRead } = await handle.read(buffer, 0, end - start, start);
    const chunk = buffer.subarray(0, bytesRead);
    if (!chunk.equals(ZEROS.subarray(0, bytesRead))) {
      let last = bytesRead - 1;
      while (chunk[last] === 0) last--;
      return start + last + 1;
    }
    end = start;
  }
  return floor;
}

/** Writes `length` zeros at `position` (all of them, or throws). */
export async function writeZeros(handle: FileHandle, position: number, length: number): Promise<void> {
  const zeros = length <= SCAN ? ZEROS.subarray(0, length) : Buffer.alloc(length);
  let written = 0;
  while (written < length) {
    written += (await handle.write(zeros, written, length - written, position + written)).bytesWritten;
  }
}
