import type { Server } from 'node:http';
import type { Context } from 'koa';
import { AsyncSeriesBailHook, AsyncSeriesHook, SyncHook } from 'tapable';
import type { AuthRequest, Principal } from './http/principal.js';

/** Named stages, so taps order by intent rather than by each other's names. */
export const STAGE = Object.freeze({ AUTH: -100, EARLY: -10, DEFAULT: 0, LATE: 10, AUDIT: 100 });

/**
 * The kernel's hooks: its own life and requests only. Domain hooks live on the object that does the work
 * (e.g. `ctx.use('generations').hooks`). Every tap names its plugin; tap only inside `register`.
 */
export function createHooks() {
  return Object.freeze({
    /** All plugins registered, before listen. */
    ready: new AsyncSeriesHook<[]>([]),
    /** The HTTP server exists and does not listen yet (server-limits sets its limits here). */
    server: new SyncHook<[Server]>(['server']),
    listening: new AsyncSeriesHook<[Server]>(['server']),
    /** Shutdown began, intake stopped: close websockets here, before the HTTP server closes. */
    preClose: new AsyncSeriesHook<[]>([]),
    /** The first strategy that answers wins: a Principal, or throw unauthorized; undefined = no opinion. */
    authenticate: new AsyncSeriesBailHook<[AuthRequest], Principal | undefined>(['request']),
    /** After a response was produced, with the kernel's measured duration. */
    onResponse: new SyncHook<[Context, number]>(['ctx', 'durationMs']),
  });
}

export type Hooks = ReturnType<typeof createHooks>;
