import { Type } from '@sinclair/typebox';
import { definePlugin } from '../../core/plugin.js';
import { MemoryBus } from './memory-bus.js';

const PLUGIN = 'bus';

/** The in-process message bus (contracts/bus.ts): the default for one bridge process. */
export default definePlugin({
  name: PLUGIN,
  description: 'The in-process message bus: topics, seq numbers, a replay window.',
  provides: ['bus'],
  selectedBy: { storage: 'nedb' },
  options: Type.Object(
    {
      replayWindow: Type.Integer({ minimum: 0, maximum: 100_000, default: 200, description: 'Messages kept per topic for replay (`&since=`).' }),
      replayWindowMs: Type.Integer({ minimum: 0, maximum: 86_400_000, default: 300_000, description: 'Oldest message kept for replay.' }),
    },
    { additionalProperties: false },
  ),
  register(ctx) {
    const { replayWindow, replayWindowMs } = ctx.options;
    const bus = new MemoryBus(
      { maxMessages: replayWindow, maxAgeMs: replayWindowMs },
      (error, topic) => ctx.log.error({ err: error, topic }, 'a bus subscriber failed'),
      () => ctx.clock.now(),
    );
    ctx.provide('bus', bus);
    // A topic nobody listens to and nothing is kept for is forgotten after the replay window.
    const sweep = ctx.clock.setInterval(() => bus.sweep(replayWindowMs), Math.max(1000, Math.min(60_000, replayWindowMs)));
    ctx.onClose(() => sweep.clear());
  },
});
