import { systemClock, type Clock } from '../core/timers.js';

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
