/**
 * The zeroed tail of a datafile (docs/performance.md, "The datafile's zeroed tail, wave 9").
 *
 * A datafile is its lines followed by zeros: the appender writes each batch into bytes already
 * written (as zeros) and synced, so the file's size does not change and ext4's fdatasync has no
 * journal commit to wait for (the jbd2 thread, which needs a CPU on a busy machine), only the data
 * blocks and the device flush. PostgreSQL zero-fills its WAL segments for the same reason.
 *
 * JSON never holds a raw NUL byte (JSON.stringify writes "\u0000"), so the first NUL is where the
 * lines end; the logical end of the file is the last "\n" before it.
 */

/**
 * The smallest tail: 64 KiB are written (and synced) in about the time of one more fdatasync, hold a few
 * dozen generation lives (their three lines take 1-3 KB), and the six datafiles of an empty store take
 * 384 KiB of zeros.
 */
export const TAIL_MIN_BYTES = 64 * 1024;
/**
 * The largest tail (reached at 32 MiB of lines): over a thousand generation lives between two extensions,
 * one write the disk takes in a few ms; more would only keep more of the disk unused.
 */
export const TAIL_MAX_BYTES = 4 * 1024 * 1024;

/**
 * The tail kept after `logical` bytes of lines: an eighth of them, within the bounds, so a file written
 * often (whose lines grow) is extended less often, and a small one holds little more than its lines.
 * It is extended by this much once less than half of it is left.
 */
export const tailBytesFor = (logical: number): number => Math.min(TAIL_MAX_BYTES, Math.max(TAIL_MIN_BYTES, logical >> 3));

// The mechanism (writing zeros ahead, finding where the data ends) is shared with results' write-ahead log.
export { endOfData, writeZeros } from '../../contracts/zeroed-space.js';
