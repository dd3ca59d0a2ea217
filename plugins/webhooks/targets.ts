import { isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import type { Principal } from '../../contracts/auth.js';
import { TERMINAL_WEBHOOK_EVENTS, type KeyWebhooks, type WebhookRequest } from '../../contracts/outbox.js';
import { badRequest } from '../../core/errors.js';
import { checkOutboundUrl, internalAddressKind, OutboundRefused, type OutboundPolicy, type Resolver } from '../../lib/outbound.js';
import type { WebhookTarget } from './api.js';

const systemResolver: Resolver = (hostname) => lookup(hostname, { all: true, verbatim: true });

/**
 * Checks a receiver URL the way the connection will (lib/outbound.ts): http(s), an allowed
 * host, and (after DNS) no internal address. Throws OutboundRefused saying why. Sending checks again
 * on the connection itself, pinned to the address it checked, so DNS that changes later cannot slip by.
 */
export async function checkReceiver(raw: string, policy: OutboundPolicy): Promise<URL> {
  const url = checkOutboundUrl(raw, policy);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) || policy.allowPrivateAddresses) return url;
  let addresses;
  try {
    addresses = await (policy.resolve ?? systemResolver)(host);
  } catch (error) {
    throw new OutboundRefused(`${host} does not resolve (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  if (addresses.length === 0) throw new OutboundRefused(`${host} resolves to no address`);
  for (const { address } of addresses) {
    const why = internalAddressKind(address);
    if (why) throw new OutboundRefused(`${host} resolves to ${address}, which is ${why}; such addresses are refused unless allowPrivateAddresses is set`);
  }
  return url;
}

export interface TargetDeps {
  policy: () => OutboundPolicy;
  keyWebhooks: () => KeyWebhooks | undefined;
  /** The plugin's own secret (auth off). */
  anonymousSecret: string | null;
}

/** The receiver of a generation request: named in it, else its key's default; checked, and only when a secret exists to sign with. */
export async function resolveTarget(deps: TargetDeps, principal: Principal, requested: WebhookRequest | undefined): Promise<WebhookTarget | undefined> {
  const settings = principal.anonymous ? undefined : deps.keyWebhooks()?.forKey(principal.id);
  const chosen = requested ?? (settings?.url ? { url: settings.url, events: settings.events } : undefined);
  if (!chosen) return undefined;
  const from = requested ? 'webhook.url' : `the default webhook of key "${principal.id}"`;
  const hasSecret = principal.anonymous ? deps.anonymousSecret !== null : settings?.secret !== undefined;
  if (!hasSecret) {
    throw badRequest(
      principal.anonymous
        ? 'webhooks need a signing secret: the operator sets plugins.webhooks.secret (COMFY_BRIDGE_WEBHOOK_SECRET) for requests without an API key'
        : `webhooks need a signing secret for key "${principal.id}": the operator sets plugins.auth.keys[].webhook.secret`,
    );
  }
  try {
    await checkReceiver(chosen.url, deps.policy());
  } catch (error) {
    if (error instanceof OutboundRefused) throw badRequest(`${from} is refused: ${error.message}`);
    throw error;
  }
  return { url: chosen.url, events: [...(chosen.events ?? TERMINAL_WEBHOOK_EVENTS)], secretRef: principal.anonymous ? '' : principal.id };
}
