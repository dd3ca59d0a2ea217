import { definePlugin } from '../../core/plugin.js';
import { ERROR_BODY, STATUS_FRAME } from '../../contracts/schemas.js';
import { generateHandler } from './handler.js';
import { generateBody, generateQuery } from './route-schemas.js';
import { storedActiveCounts } from './shared-active.js';
import { generateBodyByWorkflow } from './document-body.js';
import { optionsSchema, type GenerateOptions } from './options.js';
import type { QuotaStats } from './api.js';

const PLUGIN = 'generate';

const queuedSchema = {
  title: 'Queued',
  type: 'object',
  additionalProperties: false,
  required: ['id', 'clientId', 'workflow', 'status', 'position', 'detail'],
  properties: {
    id: { type: 'string', description: 'The generation id (gen_...).' },
    clientId: { type: 'string' },
    workflow: { type: 'string' },
    status: { const: 'queued' },
    position: { type: 'integer', minimum: 0, description: 'Prompts ahead of this one on its backend (0 = next or running).' },
    detail: { type: 'string', description: '"queued / <position>", as the original bridge answers.' },
  },
};

const QUEUED_EXAMPLE = { id: 'gen_2ZBPgLfoHtq_Kpwponr5Vk0v', clientId: '3f1c9a2e-5b7d-4e61-9a0c-2d8e4f6b1a73', workflow: 'text-to-image', status: 'queued', position: 0, detail: 'queued / 0' };

/** POST /generate-based-workflow — validates the flat inputs against the workflow and starts a generation (SPEC §2.4). */
export default definePlugin<GenerateOptions>({
  name: PLUGIN,
  description: 'POST /generate-based-workflow — start a generation of a workflow with flat inputs.',
  dependencies: ['workflows', 'generations'],
  optionalDependencies: ['uploads', 'access', 'storage', 'resolver', 'webhooks'],
  provides: ['quotaStats'],
  options: optionsSchema,
  register(ctx) {
    const storage = ctx.tryUse('storage');
    const refusals = { maxActive: 0, perMinute: 0, perDay: 0 };
    const quotaStats: QuotaStats = { refusals: () => ({ ...refusals }) };
    ctx.provide('quotaStats', quotaStats);
    const handler = generateHandler({
      workflows: ctx.use('workflows'),
      generations: ctx.use('generations'),
      uploads: () => ctx.tryUse('uploads'),
      access: () => ctx.tryUse('access'),
      transport: () => ctx.tryUse('transport'),
      storage: () => ctx.tryUse('storage'),
      resolver: () => ctx.tryUse('resolver'),
      webhooks: () => ctx.tryUse('webhooks'),
      options: ctx.options,
      // A store other instances write too holds the fleet's active generations; this process's count would miss theirs.
      sharedActiveCounts: storage?.shared ? storedActiveCounts(storage) : undefined,
      onQuotaRefused: (limit) => refusals[limit]++,
    });
    ctx.route({
      method: 'post',
      path: '/generate-based-workflow',
      summary: 'Start a generation',
      description:
        'Body: the workflow alias plus any of its designated inputs, flat: `{"workflow": "text-to-image", "6/text": "a red fox", "3/seed": 42}`. ' +
        'Missing inputs take the workflow defaults; unknown keys, wrong types and out-of-range values are refused naming the key. ' +
        'Image inputs take the stored name of an upload of the same clientId, or (when enabled) a `data:image/...;base64,` URL or an http(s) URL, ' +
        'checked and stored exactly like an upload. Answers at once with the queued generation, ' +
        'or with `wait: true` when it ends (the /execution-info body), or 202 after the wait timeout. ' +
        'An `Idempotency-Key` header (1–255 printable ASCII characters) makes retries safe: the same key with the same request ' +
        'within 24 h answers the first answer (same id, header `Idempotent-Replayed: true`) and starts nothing. ' +
        'Optional `webhook: {url, events?}` (plugin webhooks): signed POSTs of the generation\'s events to that URL (docs/webhooks.md).',
      tags: ['generations'],
      scope: 'client',
      query: generateQuery,
      body: generateBody,
      documentBody: () => generateBodyByWorkflow(ctx.use('workflows')),
      responses: {
        '200': { description: 'Queued (or, with wait, ended: the /execution-info body).', schema: { oneOf: [queuedSchema, STATUS_FRAME] }, example: QUEUED_EXAMPLE },
        '202': { description: 'wait: true timed out; the generation goes on.', schema: queuedSchema, example: QUEUED_EXAMPLE },
        '400': { description: 'Missing clientId, unknown input key, wrong type or range, unknown image, an image URL refused or unreadable, a webhook URL refused, or ComfyUI refused the graph.', schema: ERROR_BODY },
        '404': { description: 'No workflow with that alias.', schema: ERROR_BODY },
        '409': { description: 'A request with this Idempotency-Key is still running in another bridge process (Retry-After).', schema: ERROR_BODY },
        '413': { description: 'An image given by URL or data: URL is over the size limit.', schema: ERROR_BODY },
        '415': { description: 'An image given by URL or data: URL is not an allowed image type.', schema: ERROR_BODY },
        '422': { description: 'This Idempotency-Key was used with another request.', schema: ERROR_BODY },
        '429': {
          description:
            'This clientId or the whole bridge has too many generations queued or running, or `quota_exceeded`: the API key reached a quota (`limit`: maxActive, perMinute or perDay, named in the detail). Retry-After says when to try again.',
          schema: ERROR_BODY,
        },
        '503': {
          description: 'No ComfyUI backend reachable, or `workflow_unavailable`: no backend has the node classes and model files the workflow needs (named in the detail; Retry-After).',
          schema: ERROR_BODY,
        },
      },
      handler,
    });
  },
});
