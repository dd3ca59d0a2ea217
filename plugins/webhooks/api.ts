import type { Principal } from '../../contracts/auth.js';
import type { WebhookEvent, WebhookRequest } from '../../contracts/outbox.js';

/** A receiver checked at submit time, ready to be subscribed for one generation. */
export interface WebhookTarget {
  url: string;
  events: WebhookEvent[];
  /** Whose secret signs: the API key id, or "" (auth off). */
  secretRef: string;
}

/** Deliveries by outcome since start (this process): what /metrics counts. */
export interface WebhookStats {
  /** Answered 2xx. */
  delivered: number;
  /** An attempt failed and another is scheduled. */
  retried: number;
  /** Given up: out of time, refused for good (410, an address or host no longer allowed), or no secret to sign with. */
  failed: number;
}

/** Provided by plugins/webhooks. */
export interface WebhookService {
  /**
   * The receiver for a generation request: the one it names, else its API key's default, else none.
   * Checks the URL (allow-list, address after DNS) and that a secret exists to sign with; a refusal is a BridgeError 400.
   */
  target(principal: Principal, requested: WebhookRequest | undefined): Promise<WebhookTarget | undefined>;
  /**
   * Records the subscription of generation `id` to `target` before `create` records the generation
   * (so none of its state changes can be missed), and forgets it again when `create` throws.
   */
  subscribed<T>(id: string, target: WebhookTarget, create: () => Promise<T>): Promise<T>;
  stats(): WebhookStats;
  /** Deliveries pending in the outbox (the store's: every instance sharing it sees the same number). For /metrics. */
  pendingDeliveries(): Promise<number>;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    /** Signed webhook deliveries of generations' events, through the storage outbox (plugins/webhooks). */
    webhooks: WebhookService;
  }
}
