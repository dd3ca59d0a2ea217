import { randomBytes } from 'node:crypto';
import type { ImageType } from './options.js';

/** The only names ever stored: checked before any path is built from a name a client sent. */
export const STORED_NAME = /^cb_[A-Za-z0-9_-]+\.(png|jpg|webp|gif)$/;

/** 144 random bits: unguessable, so a stored name is also a capability nobody can enumerate. */
export function freshName(type: ImageType): string {
  return `cb_${randomBytes(18).toString('base64url')}.${type}`;
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
