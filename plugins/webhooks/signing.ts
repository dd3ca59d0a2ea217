import { createHmac } from 'node:crypto';

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): the signature is
 * `v1,` + base64(HMAC-SHA256(secret, "<webhook-id>.<webhook-timestamp>.<body>")), the secret is
 * "whsec_" + base64 of its bytes. A few lines of node:crypto, so no dependency: the tests verify
 * with the `standardwebhooks` reference package instead, which proves receivers can use it.
 */

const PREFIX = 'whsec_';
/** What Standard Webhooks asks of a secret: 24 to 64 bytes. */
const MIN_BYTES = 24;
const MAX_BYTES = 64;

/** The secret's bytes; throws an Error saying what is wrong (never echoing the secret). */
export function secretBytes(secret: string): Buffer {
  if (!secret.startsWith(PREFIX)) throw new Error(`a webhook secret starts with "${PREFIX}"`);
  const base64 = secret.slice(PREFIX.length);
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.toString('base64').replace(/=+$/, '') !== base64.replace(/=+$/, '')) throw new Error('a webhook secret is "whsec_" + base64');
  if (bytes.length < MIN_BYTES || bytes.length > MAX_BYTES) throw new Error(`a webhook secret holds ${MIN_BYTES} to ${MAX_BYTES} bytes (this one ${bytes.length})`);
  return bytes;
}

/** The webhook-signature header value for one attempt. */
export function signature(key: Buffer, id: string, timestampSeconds: number, body: string): string {
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
}

/** The three headers of one attempt (the timestamp is the attempt's, so a receiver can refuse old replays). */
export function signedHeaders(key: Buffer, id: string, body: string, now: number): Record<string, string> {
  const timestamp = Math.floor(now / 1000);
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature(key, id, timestamp, body) };
}
