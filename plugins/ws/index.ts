import { definePlugin } from '../../core/plugin.js';
import { tooManyRequests } from '../../core/errors.js';
import { retryAfter } from '../../contracts/transport.js';
import { ERROR_BODY, CLIENT_ID, SOCKET_FRAME, STATUS_FRAME_EXAMPLE } from '../../contracts/schemas.js';
import { warnIfExposed } from './exposure.js';
import { SocketHub } from './hub.js';
import { optionsSchema, type WsOptions } from './options.js';
import { MutableWsStats, statsService } from './stats.js';

const PLUGIN = 'ws';


/**
 * WS /ws?clientId=X — live status of a client's generations (SPEC §2.1): `connected`, `listening`
 * heartbeats, numbered generation frames with `&since=` replay, and the `closed`/`error` endings.
 * Provides the `wsStats` service (open sockets, dropped consumers) for metrics.
 */
export default definePlugin<WsOptions>({
  name: PLUGIN,
  description: 'WS /ws — live generation status per clientId.',
  // Frames come rendered from the bus (generations publishes them); ws never calls generations.
  dependencies: ['bus'],
  optionalDependencies: ['access'],
  provides: ['wsStats'],
  options: optionsSchema,
  register(ctx) {
    const { options } = ctx;
    const stats = new MutableWsStats();
    const hub = new SocketHub({ bus: ctx.use('bus'), options, log: ctx.log, stats, clock: ctx.clock });
    ctx.provide('wsStats', statsService(stats));
    // A socket another key opened on a clientId before it was bound gets none of the owner's frames.
    const access = ctx.tryUse('access');
    const unbind = access?.onBind?.((clientId, owner) => hub.evictWatchers(clientId, owner));

    ctx.hooks.listening.tap({ name: PLUGIN }, () => {
      hub.start();
      warnIfExposed(ctx.config.server.host, access !== undefined, ctx.log);
    });
    ctx.hooks.preClose.tapPromise({ name: PLUGIN }, async () => {
      await hub.shutdown();
    });
    ctx.onClose(() => {
      unbind?.();
      hub.stop();
    });

    ctx.route({
      method: 'ws',
      path: '/ws',
      summary: "WebSocket: live status of a client's generations",
      description:
        'Open as a websocket. Frames are JSON `{"status", "details"}`: `connected`, `listening` (heartbeat), `progress` ' +
        '(overall percent), `closed`, `error`. Generation frames carry `seq` (increasing per clientId) and `data.id`; ' +
        'reconnect with `&since=<last seq>` to receive the frames you missed first.',
      tags: ['generations'],
      scope: 'client',
      maxPayload: options.maxPayload,
      query: {
        type: 'object',
        required: ['clientId'],
        properties: {
          clientId: CLIENT_ID,
          since: { type: 'integer', minimum: 0, maximum: 999_999_999_999_999, description: 'The seq of the last generation frame received; missed frames are replayed.' },
        },
      },
      responses: {
        '101': {
          description: 'Switching to the websocket protocol; then text frames, each a JSON SocketFrame.',
          schema: SOCKET_FRAME,
          example: { status: 'progress', details: '42.50%', seq: 7, data: { ...STATUS_FRAME_EXAMPLE.data, state: 'running', percent: 42.5, result_urls: [], finished_at: null } },
        },
        '400': { description: 'Missing or invalid clientId or since.', schema: ERROR_BODY },
        '426': { description: 'Sent without a websocket upgrade.', schema: ERROR_BODY },
        '429': { description: 'Too many sockets open for this clientId.', schema: ERROR_BODY },
      },
      async accept({ query, principal }) {
        const clientId = query.clientId as string;
        // Watching never binds a clientId (only generating and uploading do), so a socket cannot squat one.
        await access?.checkClient(clientId, principal);
        if (hub.openSockets(clientId) >= options.maxSocketsPerClient) {
          throw tooManyRequests(`clientId ${clientId} already has ${options.maxSocketsPerClient} sockets open`, { headers: retryAfter() });
        }
      },
      open(ws, { query, principal }) {
        stats.acceptedTotal++;
        const clientId = query.clientId as string;
        // Checked again, synchronously, as the socket joins: the clientId may have been bound to another
        // key during the handshake, after accept() checked it.
        if (access?.mayWatch?.(clientId, principal) === false) return hub.refuseBound(ws);
        void hub.attach(ws, clientId, query.since as number | undefined, principal).catch((error: unknown) => {
          ctx.log.error({ err: error, clientId }, 'websocket attach failed');
          ws.terminate();
        });
      },
      refused: () => void stats.rejectedTotal++,
    });
  },
});
