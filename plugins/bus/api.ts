import type { Bus } from '../../contracts/bus.js';

declare module '../../core/services.js' {
  interface ServiceMap {
    /** Publish/subscribe by topic (contracts/bus.ts); in-process here, PostgreSQL in a fleet. */
    bus: Bus;
  }
}
