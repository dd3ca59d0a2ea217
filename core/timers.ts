/** A pending timer; it never keeps the process alive. */
export type Timer = { clear(): void };

/**
 * Time for the timers tests wait on (expiry, retention, sweeps): the kernel gives every plugin one (`ctx.clock`),
 * the system's unless createApp was given another, so a test moves time instead of sleeping.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): Timer;
  setInterval(fn: () => void, ms: number): Timer;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => ((timer) => ({ clear: () => clearTimeout(timer) }))(setTimeout(fn, ms).unref()),
  setInterval: (fn, ms) => ((timer) => ({ clear: () => clearInterval(timer) }))(setInterval(fn, ms).unref()),
};
