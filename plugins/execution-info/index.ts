import { Type } from '@sinclair/typebox';
import { definePlugin } from '../../core/plugin.js';
import { badRequest, notFound } from '../../core/errors.js';
import { ERROR_BODY, CLIENT_ID, GENERATION_ID, STATUS_FRAME, STATUS_FRAME_EXAMPLE } from '../../contracts/schemas.js';
import { findVisibleGeneration } from '../../contracts/visible-generation.js';

const PLUGIN = 'execution-info';

/**
 * GET /execution-info?clientId=X (or ?id=gen_...) — a generation's state in the websocket frame
 * shape, for clients that poll instead of holding a socket (SPEC §3).
 */
export default definePlugin({
  name: PLUGIN,
  description: 'GET /execution-info — the latest (or a named) generation as a status frame, for REST polling.',
  dependencies: ['generations'],
  options: Type.Object({}, { additionalProperties: false }),
  register(ctx) {
    const generations = ctx.use('generations');
    ctx.route({
      method: 'get',
      path: '/execution-info',
      summary: "A generation's current state (REST polling)",
      description:
        'The same frame a websocket gets: `status` is `progress` while queued or running, `closed` once completed, `error` once ' +
        'failed or interrupted; `details` is the percent or the reason; `data` holds id, workflow, state, position, percent, node, ' +
        'step, max_steps, result_urls, error_message and the timestamps. With both `id` and `clientId`, the generation must belong to that client.',
      tags: ['generations'],
      scope: 'client',
      query: Type.Object({ clientId: Type.Optional(CLIENT_ID), id: Type.Optional(GENERATION_ID) }),
      responses: {
        '200': { description: 'The generation state.', schema: STATUS_FRAME, example: STATUS_FRAME_EXAMPLE },
        '400': { description: 'Neither clientId nor id given.', schema: ERROR_BODY },
        '404': { description: 'No such generation (or not visible to this key).', schema: ERROR_BODY },
      },
      async handler(http, { query: { clientId, id }, principal }) {
        if (clientId === undefined && id === undefined) throw badRequest('give clientId (the latest generation of that client) or id');
        const gen = await findVisibleGeneration(generations, { id, clientId }, principal);
        if (!gen) throw notFound(`no ${id !== undefined ? `generation ${id}` : `generation for client ${clientId}`}`);
        http.body = generations.frame(gen);
      },
    });
  },
});
