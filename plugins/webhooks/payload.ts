import type { OutboxDelivery } from '../../contracts/outbox.js';
import type { GenerationFrame } from '../../plugins/generations/api.js';

/**
 * The JSON body of a delivery, in the Standard Webhooks shape {type, timestamp, data}. Rendered from
 * the generation as the state change stored it, so every attempt sends the same bytes; `timestamp`
 * is when the event happened (the webhook-timestamp header is when the attempt was made).
 */
export function payloadOf(delivery: OutboxDelivery, frame: (gen: OutboxDelivery['generation']) => GenerationFrame): string {
  const gen = delivery.generation;
  const urls = frame(gen).data.result_urls;
  return JSON.stringify({
    type: delivery.event,
    timestamp: delivery.createdAt,
    data: {
      id: gen.id,
      clientId: gen.clientId,
      workflow: gen.workflow,
      status: gen.state,
      error: gen.error,
      createdAt: gen.createdAt,
      startedAt: gen.startedAt,
      finishedAt: gen.finishedAt,
      result_urls: Array.isArray(urls) ? urls : [],
    },
  });
}
