import { Type } from '@sinclair/typebox';
import { FINAL_STATES, GENERATION_STATES } from '../../contracts/generation.js';
import { badRequest } from '../../core/errors.js';
import { fromQueryOrBody } from '../../lib/query-or-body.js';
import { ERROR_BODY, CLIENT_ID, GENERATION_ID } from '../../contracts/schemas.js';
import { definePlugin, type JsonSchema } from '../../core/plugin.js';
import { findTarget, type TargetRequest } from './find-target.js';

const PLUGIN = 'interrupt';

const targetProperties = {
  clientId: Type.Optional({ ...CLIENT_ID, description: "Interrupt this client's current generation." }),
  id: Type.Optional(GENERATION_ID),
};

const responseSchema: JsonSchema = {
  type: 'object',
  required: ['detail', 'id', 'status'],
  properties: {
    detail: { type: 'string' },
    id: { type: 'string' },
    status: { enum: [...GENERATION_STATES], description: '`interrupted`, or the final status of a generation that had already ended.' },
  },
};

/** POST /interrupt: cancels one client's current generation, never another client's. */
export default definePlugin({
  name: PLUGIN,
  description: "POST /interrupt — cancels a client's current generation (queued: removed; running: targeted interrupt).",
  dependencies: ['generations'],
  optionalDependencies: ['access', 'storage'],
  options: Type.Object({}, { additionalProperties: false }),
  register(ctx) {
    const generations = ctx.use('generations');

    ctx.route({
      method: 'post',
      path: '/interrupt',
      summary: "Cancel a client's current generation",
      description:
        'With `clientId`: its newest queued or running generation; with `id`: that generation. A queued one is ' +
        'removed from the ComfyUI queue, a running one gets an interrupt aimed at its prompt only. The answer ' +
        "comes once ComfyUI has the request; the client's sockets get `error` then `closed` when ComfyUI stops " +
        '(a running node finishes first). A generation that already ended answers 200 with its final status.',
      tags: ['generations'],
      query: Type.Object(targetProperties),
      body: Type.Object(targetProperties, { additionalProperties: false }),
      responses: {
        200: {
          description: 'Interrupt requested, or the generation had already ended',
          schema: responseSchema,
          example: { detail: 'generation gen_2ZBPgLfoHtq_Kpwponr5Vk0v interrupted (it was running)', id: 'gen_2ZBPgLfoHtq_Kpwponr5Vk0v', status: 'interrupted' },
        },
        400: { description: 'Neither clientId nor id given', schema: ERROR_BODY },
        404: { description: 'No such generation or clientId for this caller', schema: ERROR_BODY },
      },
      async handler(http, { query, body, principal }) {
        const request: TargetRequest = { clientId: fromQueryOrBody('clientId', query, body), id: fromQueryOrBody('id', query, body) };
        if (request.clientId === undefined && request.id === undefined) throw badRequest('give clientId or id');

        const target = await findTarget(request, principal, {
          generations,
          access: ctx.tryUse('access'),
          storage: ctx.tryUse('storage'),
        });
        if (FINAL_STATES.has(target.state)) {
          http.body = { detail: `generation ${target.id} had already ended: ${target.state}`, id: target.id, status: target.state };
          return;
        }
        const after = await generations.interrupt(target.id);
        // It may have ended on its own between the lookup and the cancel.
        if (FINAL_STATES.has(after.state) && after.state !== 'interrupted') {
          http.body = { detail: `generation ${after.id} had already ended: ${after.state}`, id: after.id, status: after.state };
          return;
        }
        http.body = { detail: `generation ${target.id} interrupted (it was ${target.state})`, id: target.id, status: 'interrupted' };
      },
    });
  },
});
