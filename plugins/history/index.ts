import { Type } from '@sinclair/typebox';
import type { Context } from 'koa';
import { isAdmin } from '../../contracts/auth.js';
import { GENERATION_STATES, type Generation, type GenerationState } from '../../contracts/generation.js';
import { definePlugin } from '../../core/plugin.js';
import { buildResultUrl, toHistoryItem } from './history-item.js';
import { ERROR_BODY } from '../../contracts/schemas.js';
import { countResponseSchema, HISTORY_EXAMPLE, HISTORY_PAGE, historyQuerySchema, historyResponseSchema } from './schemas.js';

const PLUGIN = 'history';

export default definePlugin({
  name: PLUGIN,
  description: 'GET /history (paged generation history) and GET /generation-count.',
  dependencies: ['storage'],
  // Result URLs come from the results service (their one owner) when it is loaded.
  optionalDependencies: ['results', 'access'],
  options: Type.Object({}, { additionalProperties: false }),
  register(ctx) {
    const storage = ctx.use('storage');

    /** One key's counts: a one-item page per state gives its total (the store counts by index). */
    const countsOf = async (owner: string): Promise<{ total: number; byState: Record<GenerationState, number> }> => {
      const totals = await Promise.all(GENERATION_STATES.map((state) => storage.generations.page({ owner, state, limit: 1, offset: 0 })));
      const byState = Object.fromEntries(GENERATION_STATES.map((state, index) => [state, totals[index]!.total])) as Record<GenerationState, number>;
      return { total: totals.reduce((sum, page) => sum + page.total, 0), byState };
    };

    const resultUrlFor = (request: Context): ((gen: Generation, file: string) => string) => {
      const results = ctx.tryUse('results');
      if (results) return (gen, file) => results.url(gen.id, file);
      // Without a configured publicUrl, the address the caller reached us at is the best base we know
      // (port 0 included). Koa 3's ctx.origin is the Origin header, so build it from protocol and host.
      const base = ctx.config.server.publicUrl ?? `${request.protocol}://${request.host}`;
      return (gen, file) => buildResultUrl(base, gen, file);
    };

    ctx.route({
      method: 'get',
      path: '/history',
      summary: 'Paged generation history, newest first',
      description: 'With auth on, a client key sees only its own generations; an admin key sees all.',
      tags: ['history'],
      query: historyQuerySchema,
      responses: {
        200: { description: 'One page of history', schema: historyResponseSchema, example: HISTORY_EXAMPLE },
        400: { description: 'limit or offset out of range, or an unknown status', schema: ERROR_BODY },
      },
      async handler(request, { query, principal }) {
        // ajv has applied the defaults; the type (optional keys, see the schema) cannot say so.
        const { limit = HISTORY_PAGE.limit, offset = HISTORY_PAGE.offset } = query;
        // Another key's clientId is refused with 404, as its socket and execution info are; a read binds nothing.
        if (query.clientId) await ctx.tryUse('access')?.checkClient(query.clientId, principal);
        const { items, total } = await storage.generations.page({
          limit,
          offset,
          clientId: query.clientId,
          workflow: query.workflow,
          state: query.status,
          owner: isAdmin(principal) ? undefined : principal.id,
        });
        const resultUrl = resultUrlFor(request);
        request.body = {
          history: items.map((gen) => toHistoryItem(gen, resultUrl)),
          total_count: total,
          page: Math.floor(offset / limit) + 1,
          page_size: limit,
        };
      },
    });

    ctx.route({
      method: 'get',
      path: '/generation-count',
      summary: 'How many generations are recorded, in all and by status',
      description:
        "With auth on, a client key counts only its own generations still in history (retention removes old ones); an admin key gets the bridge's durable totals.",
      tags: ['history'],
      responses: {
        200: {
          description: 'Durable counts',
          schema: countResponseSchema,
          example: { generation_count: 42, by_status: { queued: 1, running: 1, completed: 37, failed: 2, interrupted: 1 } },
        },
      },
      async handler(request, { principal }) {
        const counts = isAdmin(principal) ? await storage.generations.counts() : await countsOf(principal.id);
        request.body = { generation_count: counts.total, by_status: counts.byState };
      },
    });
  },
});
