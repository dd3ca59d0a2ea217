import type { JsonSchema } from '../../core/plugin.js';

export interface WebhooksOptions {
  /** Signs deliveries of generations made with auth off ("whsec_..."); API keys have their own (plugins.auth.keys[].webhook.secret). */
  secret: string | null;
  /** Hosts webhook URLs may name: exact, "*.example.com", or "*" for any public host. */
  allowHosts: string[];
  /** Let webhook URLs reach loopback, private, link-local and metadata addresses (a receiver on the bridge's own network; tests). */
  allowPrivateAddresses: boolean;
  /** Longest attempt, connection to last byte of the answer. */
  timeoutMs: number;
  /** The delay after the first failed attempt; it doubles after each further one (with jitter). */
  firstRetryMs: number;
  /** The longest delay between two attempts. */
  maxRetryMs: number;
  /** After this long since the event, a failed attempt is the last: the delivery is given up. */
  giveUpAfterMs: number;
  /** How often the outbox is checked for due deliveries (an ending generation also wakes it at once). */
  pollMs: number;
  /** How long a claimed delivery is kept from other bridge instances while this one sends it. */
  claimMs: number;
  /** Deliveries sent at once by this instance. */
  concurrency: number;
  /** Delivered and given-up deliveries are deleted this long after they finished. */
  keepMs: number;
}

export const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    secret: {
      anyOf: [{ type: 'string', pattern: '^whsec_[A-Za-z0-9+/=]+$' }, { type: 'null' }],
      default: null,
      description: 'Signs deliveries when auth is off: "whsec_" + base64 of 24–64 random bytes. With auth on each key signs with its own (plugins.auth.keys[].webhook.secret).',
    },
    allowHosts: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      default: ['*'],
      description: 'Hosts webhook URLs may name: "hooks.example.com", "*.example.com", or "*" (any host whose addresses are public).',
    },
    allowPrivateAddresses: {
      type: 'boolean',
      default: false,
      description: 'Let webhook URLs reach loopback, private, link-local and metadata addresses (refused otherwise, after DNS and on the connection itself).',
    },
    timeoutMs: { type: 'integer', minimum: 1, maximum: 120_000, default: 10_000, description: 'Longest attempt; no answer in time counts as a failed attempt.' },
    firstRetryMs: { type: 'integer', minimum: 1, maximum: 3_600_000, default: 5_000, description: 'Delay after the first failed attempt; doubled after each further one, with jitter.' },
    maxRetryMs: { type: 'integer', minimum: 1, maximum: 86_400_000, default: 3_600_000, description: 'Longest delay between two attempts.' },
    giveUpAfterMs: { type: 'integer', minimum: 1, maximum: 2_592_000_000, default: 86_400_000, description: 'A delivery still failing this long after its event is given up.' },
    pollMs: { type: 'integer', minimum: 10, maximum: 60_000, default: 1_000, description: 'How often the outbox is checked for due deliveries.' },
    claimMs: { type: 'integer', minimum: 1_000, maximum: 3_600_000, default: 60_000, description: 'How long a delivery being sent is kept from other instances (longer than timeoutMs).' },
    concurrency: { type: 'integer', minimum: 1, maximum: 256, default: 8, description: 'Deliveries this instance sends at once.' },
    keepMs: { type: 'integer', minimum: 0, maximum: 31_536_000_000, default: 604_800_000, description: 'Finished deliveries are deleted this long after they finished (default 7 days).' },
  },
};
