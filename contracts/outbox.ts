import type { Generation, GenerationState } from './generation.js';

/**
 * The webhook outbox: which generations a receiver wants to hear about (subscriptions), and the
 * deliveries their state changes owe it. A delivery is never written by a caller after the fact: the
 * store derives it from the state change itself, in the same write (storage-postgres: a trigger in
 * the UPDATE's transaction) or atomically in effect (storage-nedb: written before the update
 * resolves, and derived again at load from the stored state for a crash between the two lines).
 * Its id is derived too (deliveryId), so deriving it twice never makes two deliveries.
 */

/** What a receiver may subscribe to: a generation started running, or ended. */
export const WEBHOOK_EVENTS = ['generation.running', 'generation.completed', 'generation.failed', 'generation.interrupted'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];
/** The default: the ends. */
export const TERMINAL_WEBHOOK_EVENTS: readonly WebhookEvent[] = ['generation.completed', 'generation.failed', 'generation.interrupted'];

/** The event a generation entering `state` means (queued means none). */
export const eventOfState = (state: GenerationState): WebhookEvent | undefined =>
  state === 'queued' ? undefined : (`generation.${state}` as WebhookEvent);

/**
 * The stable id of the delivery a state change owes: the same change always yields the same id, so
 * a receiver can drop a repeat (at-least-once) and a store can derive it again without a duplicate.
 * `attempts` tells apart a second `running` after a resubmission.
 */
export const deliveryId = (generationId: string, state: GenerationState, attempts: number): string => `msg_${generationId}_${state}_${attempts}`;

export interface WebhookSubscription {
  generationId: string;
  url: string;
  events: WebhookEvent[];
  /** Whose secret signs its deliveries: the API key id, or "" (auth off: the webhooks plugin's own secret). */
  secretRef: string;
  createdAt: string;
}

export type DeliveryState = 'pending' | 'delivered' | 'failed';

export interface OutboxDelivery {
  /** Stable (deliveryId): the webhook-id header of every attempt. */
  id: string;
  generationId: string;
  event: WebhookEvent;
  url: string;
  secretRef: string;
  /** The generation as the state change left it (without its graph): the payload is rendered from it. */
  generation: Generation;
  /** When the state change was written. */
  createdAt: string;
  state: DeliveryState;
  /** Attempts made so far. */
  attempts: number;
  /** Not sent before this time (pending only). */
  nextAttemptAt: string;
  /** What the last failed attempt said (status or error). */
  lastError: string | null;
  /** When it was delivered or given up. */
  finishedAt: string | null;
}

/** What an attempt (or a series of them) came to. */
export type DeliveryOutcome =
  | { state: 'delivered'; at: string }
  | { state: 'failed'; at: string; error: string }
  | { state: 'pending'; nextAttemptAt: string; error: string };

export interface OutboxStore {
  /** Records a subscription; written before the generation is, so no state change of it can be missed. Same generation again: replaced. */
  subscribe(subscription: WebhookSubscription): Promise<void>;
  /** Forgets a subscription whose generation was never recorded (the request that made it was refused). */
  unsubscribe(generationId: string): Promise<void>;
  get(id: string): Promise<OutboxDelivery | undefined>;
  /** The deliveries a generation's state changes made, oldest first. */
  forGeneration(generationId: string): Promise<OutboxDelivery[]>;
  /**
   * Claims at most `limit` pending deliveries due at `now` that nobody holds (or whose claim ran out),
   * for `claimer` until now + leaseMs, oldest due first. Two claimers at once never get the same one.
   */
  claimDue(claimer: string, now: string, limit: number, leaseMs: number): Promise<OutboxDelivery[]>;
  /** Records what became of a claimed delivery and lets go of it; false (nothing changed) when `claimer` no longer holds it. */
  finish(id: string, claimer: string, outcome: DeliveryOutcome): Promise<boolean>;
  /** Pending deliveries (for /metrics and the docs' "backlog"). */
  pendingCount(): Promise<number>;
  /** Deletes deliveries delivered or given up before `before`, and subscriptions created before it; returns how many deliveries. */
  prune(before: string): Promise<number>;
}

/** The `webhook` field of a generate request (SPEC-style description in docs/webhooks.md). */
export const WEBHOOK_REQUEST_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['url'],
  description:
    'Where to POST this generation\'s events (signed, Standard Webhooks headers; docs/webhooks.md). The URL must pass the webhooks plugin\'s host allow-list and may not reach loopback, private, link-local or metadata addresses.',
  properties: {
    url: { type: 'string', minLength: 1, maxLength: 2048, description: 'An http(s) URL.' },
    events: {
      type: 'array',
      items: { enum: [...WEBHOOK_EVENTS] },
      minItems: 1,
      uniqueItems: true,
      description: 'Which events to send; default the ends: generation.completed, generation.failed, generation.interrupted.',
    },
  },
} as const;

export interface WebhookRequest {
  url: string;
  events?: WebhookEvent[];
}

/** One API key's webhook settings (plugins.auth.keys[].webhook): its signing secret and an optional default receiver. */
export interface KeyWebhookSettings {
  /** "whsec_" + base64 of 24–64 random bytes. */
  secret?: string;
  /** Used for generations of this key that name no webhook. */
  url?: string;
  events?: WebhookEvent[];
}

/** The JSON schema of KeyWebhookSettings in the auth plugin's key config. */
export const KEY_WEBHOOK_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  description: "This key's webhook signing secret, and optionally a default receiver for its generations (docs/webhooks.md).",
  properties: {
    secret: { type: 'string', pattern: '^whsec_[A-Za-z0-9+/=]+$', description: 'Signs deliveries for this key: "whsec_" + base64 of 24–64 random bytes.' },
    url: { type: 'string', minLength: 1, maxLength: 2048, description: 'Default receiver for generations that name none.' },
    events: WEBHOOK_REQUEST_SCHEMA.properties.events,
  },
} as const;

/** Provided by an authentication plugin (plugins/auth): each API key's webhook settings, by key id. */
export interface KeyWebhooks {
  forKey(id: string): KeyWebhookSettings | undefined;
}

declare module '../core/services.js' {
  interface ServiceMap {
    /** API keys' webhook secrets and default receivers (plugins/auth). Optional. */
    keyWebhooks: KeyWebhooks;
  }
}
