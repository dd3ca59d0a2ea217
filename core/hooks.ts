import type { Server } from 'node:http';
import type { Context } from 'koa';
import { AsyncSeriesBailHook, AsyncSeriesHook, SyncHook } from 'tapable';
import type { AuthRequest, Principal } from './http/principal.js';
import type { BridgeError } from './errors.js';

/**
 * Named stages, so taps order by intent instead of by each other's names
 * (`generations.hooks.beforeSubmit.tapPromise({ name: PLUGIN, stage: STAGE.DEFAULT }, fn)`).
 */
export const STAGE = Object.freeze({ AUTH: -100, EARLY: -10, DEFAULT: 0, LATE: 10, AUDIT: 100 });

/**
 * Builds the kernel's hook catalog: its own life and requests only. Domain hooks live on the object
 * that does the work (e.g. `ctx.use('generations').hooks`). Every tap names its plugin; tap only inside `register`.
 */
export function createHooks() {
  return Object.freeze({
    // lifecycle
    /** All plugins registered, before listen. */
    ready: new AsyncSeriesHook<[]>([]),
    /** The HTTP server exists and does not listen yet (server-limits sets its limits here). */
    server: new SyncHook<[Server]>(['server']),
    /** The HTTP server is listening (the ws plugin attaches `upgrade` here). */
    listening: new AsyncSeriesHook<[Server]>(['server']),
    /** Shutdown began: intake stopped; close websockets here, before the HTTP server closes. */
    preClose: new AsyncSeriesHook<[]>([]),

    // request
    /** First strategy that answers wins: a Principal, or throw unauthorized. undefined = no opinion. */
    authenticate: new AsyncSeriesBailHook<[AuthRequest], Principal | undefined>(['request']),
    onError: new SyncHook<[BridgeError, Context]>(['error', 'ctx']),
    /** After a response was produced; durationMs measured by the kernel. */
    onResponse: new SyncHook<[Context, number]>(['ctx', 'durationMs']),

  });
}

export type Hooks = ReturnType<typeof createHooks>;
