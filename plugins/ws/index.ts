import type { Server } from 'node:http';
import { WebSocketServer } from 'ws';
import { definePlugin } from '../../core/plugin.js';
import { BridgeError } from '../../core/errors.js';
import { CLIENT_ID, ERROR_BODY } from '../../core/http/schemas.js';
import { SocketHub } from './hub.js';
import { optionsSchema, type WsOptions } from './options.js';
import { MutableWsStats, statsService } from './stats.js';
import { upgradeListener, WS_PATH } from './upgrade.js';

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
    const hub = new SocketHub({ bus: ctx.use('bus'), options, log: ctx.log, stats });
    ctx.provide('wsStats', statsService(stats));

    const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayload, perMessageDeflate: false, clientTracking: false });
    let closing = false;
    const onUpgrade = upgradeListener({
      hooks: ctx.hooks,
      wss,
      log: ctx.log,
      access: () => ctx.tryUse('access'),
      maxSocketsPerClient: options.maxSocketsPerClient,
      openSockets: (clientId) => hub.openSockets(clientId),
      isClosing: () => closing,
      onRejected: () => void stats.rejectedTotal++,
      onAccepted: (ws, clientId, since) => {
        stats.acceptedTotal++;
        void hub.attach(ws, clientId, since).catch((error: unknown) => {
          ctx.log.error({ err: error, clientId }, 'websocket attach failed');
          ws.terminate();
        });
      },
    });

    let server: Server | undefined;
    ctx.hooks.listening.tap({ name: PLUGIN }, (listening) => {
      server = listening;
      listening.on('upgrade', onUpgrade);
      hub.start();
    });
    ctx.hooks.preClose.tapPromise({ name: PLUGIN }, async () => {
      closing = true;
      await hub.shutdown();
    });
    ctx.onClose(() => {
      closing = true;
      hub.stop();
      server?.off('upgrade', onUpgrade);
      wss.close();
    });

    // Recorded for the OpenAPI document; a plain GET (no upgrade) gets 426 after the same query checks.
    ctx.route({
      method: 'get',
      path: WS_PATH,
      summary: "WebSocket: live status of a client's generations",
      description:
        'Open as a websocket. Frames are JSON `{"status", "details"}`: `connected`, `listening` (heartbeat), `progress` ' +
        '(overall percent), `closed`, `error`. Generation frames carry `seq` (increasing per clientId) and `data.id`; ' +
        'reconnect with `&since=<last seq>` to receive the frames you missed first.',
      tags: ['generations'],
      scope: 'client',
      query: {
        type: 'object',
        required: ['clientId'],
        properties: {
          clientId: CLIENT_ID,
          since: { type: 'integer', minimum: 0, description: 'The seq of the last generation frame received; missed frames are replayed.' },
        },
      },
      responses: {
        '101': { description: 'Switching to the websocket protocol.' },
        '400': { description: 'Missing or invalid clientId or since.', schema: ERROR_BODY },
        '426': { description: 'Sent without a websocket upgrade.', schema: ERROR_BODY },
        '429': { description: 'Too many sockets open for this clientId.', schema: ERROR_BODY },
      },
      handler: () => {
        throw new BridgeError(426, 'upgrade_required', 'open /ws as a websocket (ws://host/ws?clientId=...)', { headers: { Upgrade: 'websocket' } });
      },
    });
  },
});
