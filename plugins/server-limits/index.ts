import { Type } from '@sinclair/typebox';
import { definePlugin } from '../../core/plugin.js';
import { applyServerLimits } from './limits.js';

/**
 * Slow or idle clients must not hold sockets (and the files of their uploads). The limits are read from
 * the kernel's `server` config (server.headersTimeoutMs, requestTimeoutMs, minUploadBytesPerSecond,
 * uploadRateWindowMs, maxConnections) where operators have always set them; this plugin applies them
 * to the HTTP server before it listens.
 */
export default definePlugin({
  name: 'server-limits',
  description: 'Header and body deadlines, a minimum upload rate and a connection cap on the HTTP server (settings under server.*).',
  options: Type.Object({}, { additionalProperties: false }),
  register(ctx) {
    ctx.hooks.server.tap('server-limits', (server) => applyServerLimits(server, ctx.config.server, ctx.log));
  },
});
