import type { OutboxDelivery } from '../../contracts/outbox.js';
import { outboundRequest, OutboundRefused, type OutboundPolicy } from '../../lib/outbound.js';
import { signedHeaders } from './signing.js';
import { checkReceiver } from './targets.js';

/** What one attempt came to: `final` failures are not retried (a retry could not succeed). */
export type Attempt = { ok: true } | { ok: false; final: boolean; error: string };

/** The receiver's answer body is read only this far (it is ignored). */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * One signed POST of a delivery. The URL is checked again now (the allow-list or DNS may have
 * changed since the submit) and the connection is pinned to the address checked; redirects are not
 * followed (a 3xx is a failed attempt). 2xx delivers; 410 Gone means the receiver wants no more.
 */
export async function attempt(delivery: OutboxDelivery, body: string, key: Buffer, policy: OutboundPolicy, timeoutMs: number): Promise<Attempt> {
  try {
    await checkReceiver(delivery.url, policy);
  } catch (error) {
    // A policy refusal is final; a name that does not resolve right now may resolve later.
    const final = error instanceof OutboundRefused && !/does not resolve/.test(error.message);
    return { ok: false, final, error: `refused: ${(error as Error).message}` };
  }
  try {
    const response = await outboundRequest(delivery.url, policy, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'comfy-bridge-webhooks',
        ...signedHeaders(key, delivery.id, body, Date.now()),
      },
      body,
      timeoutMs,
      maxBytes: MAX_ANSWER_BYTES,
    });
    if (response.status >= 200 && response.status < 300) return { ok: true };
    return { ok: false, final: response.status === 410, error: `HTTP ${response.status}` };
  } catch (error) {
    return { ok: false, final: false, error: (error as Error).message || String(error) };
  }
}
