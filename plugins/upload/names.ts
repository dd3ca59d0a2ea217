import { randomBytes, randomFillSync } from 'node:crypto';
import type { ImageType } from './options.js';

/** The only names ever stored: checked before any path is built from a name a client sent. */
export const STORED_NAME = /^cb_[A-Za-z0-9_-]+\.(png|jpg|webp|gif)$/;

/** 144 random bits per stored name. */
const NAME_BYTES = 18;
/**
 * Random bytes for the next 256 stored names, drawn in one call and each used once: a randomBytes call per
 * name is a trip into OpenSSL (with a getpid for its fork check) that took 5–30 µs on the bench VM, where
 * slicing a batch takes ~0.3 µs (node's randomUUID batches the same way). The bytes are as random either way.
 */
const nameBatch = Buffer.allocUnsafeSlow(NAME_BYTES * 256);
let nameBatchUsed = nameBatch.length;

/** 144 random bits: unguessable, so a stored name is also a capability nobody can enumerate. */
export function freshName(type: ImageType): string {
  if (nameBatchUsed === nameBatch.length) {
    randomFillSync(nameBatch);
    nameBatchUsed = 0;
  }
  const random = nameBatch.toString('base64url', nameBatchUsed, nameBatchUsed + NAME_BYTES);
  nameBatchUsed += NAME_BYTES;
  return `cb_${random}.${type}`;
}

/**
 * 128 random bits per process: the incoming folder is shared by a fleet's instances, and files are created
 * with `wx`, so names must not collide across processes. A counter after it, not fresh random bytes per file.
 */
const INCOMING_STEM = randomBytes(16).toString('hex');
let incomingCount = 0;

/** Name of a file being received (in the incoming folder); never derived from the client's name. */
export function incomingName(): string {
  incomingCount += 1;
  return `${INCOMING_STEM}-${incomingCount.toString(36)}.part`;
}
