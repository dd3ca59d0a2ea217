import { randomUUID } from 'node:crypto';
import { BootError } from '../../core/errors.js';
import { definePlugin } from '../../core/plugin.js';
import type { OutboundPolicy } from '../../lib/outbound.js';
import type { OutboxDelivery } from '../../contracts/outbox.js';
import type { WebhookService } from './api.js';
import { Dispatcher } from './dispatcher.js';
import { optionsSchema, type WebhooksOptions } from './options.js';
import { payloadOf } from './payload.js';
import { attempt, type Attempt } from './sender.js';
import { secretBytes } from './signing.js';
import { resolveTarget } from './targets.js';

const PLUGIN = 'webhooks';

/**
 * Signed webhook deliveries of generations' events (docs/webhooks.md). A generate request names a
 * receiver (`webhook: {url, events?}`) or its API key has a default one; the subscription is stored
 * before the generation, the store derives a delivery from each state change in the same write
 * (contracts/outbox.ts), and the dispatcher here sends what the outbox holds, with retries, from
 * whichever instance claims it.
 */
export default definePlugin<WebhooksOptions>({
  name: PLUGIN,
  description: 'Signed webhooks (Standard Webhooks) of generations\' events through a durable outbox, with retries.',
  dependencies: ['storage', 'generations'],
  optionalDependencies: ['resolver', 'keyWebhooks'],
  provides: ['webhooks'],
  options: optionsSchema,
  env: {
    COMFY_BRIDGE_WEBHOOK_SECRET: { key: 'secret', description: 'Signs webhook deliveries when auth is off ("whsec_" + base64 of 24–64 random bytes).' },
  },
  register(ctx) {
    const options = ctx.options;
    const storage = ctx.use('storage');
    const generations = ctx.use('generations');
    const keyWebhooks = () => ctx.tryUse('keyWebhooks');
    const policy = (): OutboundPolicy => ({ allowHosts: options.allowHosts, allowPrivateAddresses: options.allowPrivateAddresses, resolve: ctx.tryUse('resolver') });
    if (options.claimMs <= options.timeoutMs) {
      ctx.log.warn({ claimMs: options.claimMs, timeoutMs: options.timeoutMs }, 'webhooks.claimMs is not above timeoutMs: another instance may send a delivery while a slow attempt still waits');
    }
    if (options.secret !== null) {
      try {
        secretBytes(options.secret);
      } catch (error) {
        throw new BootError(`plugins.webhooks.secret: ${(error as Error).message}`);
      }
    }

    /** The key a delivery is signed with now (a rotated secret signs the next attempt). */
    const keyOf = (delivery: OutboxDelivery): Buffer | string => {
      const secret = delivery.secretRef === '' ? options.secret : keyWebhooks()?.forKey(delivery.secretRef)?.secret;
      if (!secret) return delivery.secretRef === '' ? 'no webhook secret is configured (plugins.webhooks.secret)' : `key "${delivery.secretRef}" has no webhook secret configured any more`;
      try {
        return secretBytes(secret);
      } catch (error) {
        return (error as Error).message;
      }
    };
    const send = async (delivery: OutboxDelivery): Promise<Attempt> => {
      const key = keyOf(delivery);
      if (typeof key === 'string') return { ok: false, final: true, error: key };
      return attempt(delivery, payloadOf(delivery, (gen) => generations.frame(gen)), key, policy(), options.timeoutMs);
    };
    const dispatcher = new Dispatcher({
      outbox: storage.outbox,
      // Unique per process even when several instances share one store.
      claimer: `${storage.leases.instance}:${randomUUID().slice(0, 8)}`,
      send,
      options,
      log: ctx.log,
    });

    const service: WebhookService = {
      target: (principal, requested) => resolveTarget({ policy, keyWebhooks, anonymousSecret: options.secret }, principal, requested),
      async subscribed(id, target, create) {
        await storage.outbox.subscribe({ generationId: id, ...target, createdAt: new Date().toISOString() });
        try {
          return await create();
        } catch (error) {
          await storage.outbox.unsubscribe(id).catch((err: unknown) => ctx.log.warn({ err, genId: id }, 'could not forget a refused generation\'s webhook'));
          throw error;
        }
      },
      stats: () => dispatcher.stats(),
      pendingDeliveries: () => storage.outbox.pendingCount(),
    };
    ctx.provide('webhooks', service);

    // A generation that ended has just written its delivery: send it now rather than at the next poll.
    generations.hooks.settled.tap(PLUGIN, () => dispatcher.wake());

    // Once listening, not at ready: result URLs in payloads name the port, which port 0 only knows then.
    // What an earlier run left pending goes out first.
    ctx.hooks.listening.tap(PLUGIN, () => dispatcher.start());
    ctx.onClose(() => dispatcher.stop());
  },
});

