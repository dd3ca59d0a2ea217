import { createHook } from 'node:async_hooks';

/**
 * One of Node's own nextTick objects, held for the life of the process, so that every later tick keeps a fast shape.
 *
 * Why: Node 20 builds each tick as `{ [async_id_symbol], [trigger_async_id_symbol], callback, args }`, and an HTTP
 * request schedules about ten of them (streams, the socket's writes, the response's end). Between bursts no tick
 * object is alive; a full garbage collection then drops the hidden classes (maps) of that shape, and the next tick
 * builds new ones. After a few such rounds V8 marks that literal's property stores megamorphic for good, and nextTick
 * defines `callback` and `args` through the runtime from then on: about 1 µs more per tick, 5–10 µs of CPU per read
 * request (docs/performance.md, "Read routes, wave 13"). Whether a process falls into it depends on when its
 * collections ran: half of the bench's bridges did. A live object of that shape keeps its maps, so the stores stay
 * monomorphic. The object is caught by an async hook enabled around one nextTick call only (no hook runs after).
 */
let kept: object | undefined;

export function keepTickShape(): void {
  if (kept) return;
  const hook = createHook({
    init(_asyncId, type, _triggerAsyncId, resource) {
      if (type === 'TickObject') kept ??= resource;
    },
  }).enable();
  try {
    process.nextTick(() => {});
  } finally {
    hook.disable();
  }
}

/** The tick object held (undefined before keepTickShape). */
export const keptTickObject = (): object | undefined => kept;
