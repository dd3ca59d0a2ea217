import { Type } from '@sinclair/typebox';
import { definePlugin } from '../../core/plugin.js';
import { notFound } from '../../core/errors.js';
import { backendUnavailable } from '../../contracts/transport.js';
import { fromQueryOrBody } from '../../lib/query-or-body.js';
import { ERROR_BODY, CLIENT_ID } from '../../contracts/schemas.js';
import type { JsonSchema } from '../../core/plugin.js';

const PLUGIN = 'free';

const responseSchema: JsonSchema = {
  type: 'object',
  required: ['detail', 'backends'],
  properties: {
    detail: { type: 'string', description: '"server memory free now / ALL", or "/ <backend name>" for one backend.' },
    backends: {
      type: 'array',
      items: {
        type: 'object',
        required: ['url', 'ok'],
        properties: { name: { type: 'string' }, url: { type: 'string' }, ok: { type: 'boolean' } },
      },
    },
  },
};

/** POST /free: ComfyUI unloads its models and frees memory, on one client's backend or on all of them. */
export default definePlugin({
  name: PLUGIN,
  description: 'POST /free — asks ComfyUI to unload models and free memory (admin).',
  dependencies: ['transport'],
  optionalDependencies: ['generations'],
  options: Type.Object({}, { additionalProperties: false }),
  register(ctx) {
    const transport = ctx.use('transport');

    /** The backend the client's latest generation ran on; undefined = every backend. */
    const backendFor = async (clientId: string | undefined): Promise<string | undefined> => {
      if (clientId === undefined) return undefined;
      const latest = await ctx.tryUse('generations')?.latestForClient(clientId);
      if (!latest?.backend) throw notFound(`no generation of clientId ${clientId} has reached a backend`);
      if (!transport.backends().some((backend) => backend.name === latest.backend)) {
        throw notFound(`the backend of clientId ${clientId} (${latest.backend}) is no longer configured`);
      }
      return latest.backend;
    };

    ctx.route({
      method: 'post',
      path: '/free',
      summary: 'Unload models and free memory on ComfyUI',
      description:
        'Sends ComfyUI `POST /free {"unload_models": true, "free_memory": true}` on the backend that the ' +
        "client's latest generation used (with `clientId`), or on every backend. 503 when no backend took the request.",
      tags: ['operations'],
      scope: 'admin',
      query: Type.Object({ clientId: Type.Optional({ ...CLIENT_ID, description: "Free only the backend this client's latest generation used." }) }),
      body: Type.Object({ clientId: Type.Optional({ ...CLIENT_ID, description: 'Same as the clientId query parameter.' }) }, { additionalProperties: false }),
      responses: {
        200: {
          description: 'At least one backend freed its memory',
          schema: responseSchema,
          example: { detail: 'server memory free now / ALL', backends: [{ name: 'gpu-1', url: 'http://127.0.0.1:8188', ok: true }] },
        },
        404: { description: 'The clientId has no generation on a backend', schema: ERROR_BODY },
        503: { description: 'No backend took the request', schema: ERROR_BODY },
      },
      async handler(http, { query, body }) {
        const clientId = fromQueryOrBody('clientId', query, body);
        const backend = await backendFor(clientId);
        const results = await transport.free(backend);
        const backends = results.map(({ name, url, ok }) => ({ name, url, ok }));
        if (!backends.some((result) => result.ok)) {
          throw backendUnavailable('no ComfyUI backend could free its memory', { extra: { backends } });
        }
        http.body = { detail: `server memory free now / ${backend ?? 'ALL'}`, backends };
      },
    });
  },
});
