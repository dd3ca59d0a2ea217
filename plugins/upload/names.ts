import { randomBytes } from 'node:crypto';
import type { ImageType } from './options.js';

/** The only names ever stored: checked before any path is built from a name a client sent. */
export const STORED_NAME = /^cb_[A-Za-z0-9_-]+\.(png|jpg|webp|gif)$/;

/** 144 random bits: unguessable, so a stored name is also a capability nobody can enumerate. */
export function freshName(type: ImageType): string {
  return `cb_${randomBytes(18).toString('base64url')}.${type}`;
}

/** Name of a file being received (in the incoming folder); never derived from the client's name. */
export function incomingName(): string {
  return `${randomBytes(16).toString('hex')}.part`;
}
