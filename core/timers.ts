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

/** Runs `task` every `ms` without overlapping runs; the timer never keeps the process alive. */
export function every(ms: number, task: () => Promise<void>, clock: Clock = systemClock): { stop(): Promise<void> } {
  let running: Promise<void> | null = null;
  const timer = clock.setInterval(() => {
    running ??= task().finally(() => (running = null));
  }, ms);
  return {
    async stop() {
      timer.clear();
      await running;
    },
  };
}
