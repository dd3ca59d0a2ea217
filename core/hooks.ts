import type { Server } from 'node:http';
import type { Context } from 'koa';
import { AsyncSeriesBailHook, AsyncSeriesHook, AsyncSeriesWaterfallHook, SyncHook } from 'tapable';
import type { AuthRequest, Principal } from './http/principal.js';
// eslint-disable-next-line @typescript-eslint/no-restricted-imports -- the generation hooks move onto the generations service next
import type { Generation } from '../contracts/generation.js';
// eslint-disable-next-line @typescript-eslint/no-restricted-imports -- the generation hooks move onto the generations service next
import type { Graph } from '../contracts/graph.js';
// eslint-disable-next-line @typescript-eslint/no-restricted-imports -- the generation hooks move onto the generations service next
import type { TransportEvent } from '../contracts/transport.js';
import type { BridgeError } from './errors.js';

/** What beforeSubmit taps see next to the graph. */
export interface SubmitInfo {
  generationId: string;
  workflow: string;
  clientId: string;
  principal: Principal;
  backend: string;
}

/**
 * Named stages, so taps order by intent instead of by each other's names
 * (`hooks.beforeSubmit.tapPromise({ name: PLUGIN, stage: STAGE.DEFAULT }, fn)`).
 */
export const STAGE = Object.freeze({ AUTH: -100, EARLY: -10, DEFAULT: 0, LATE: 10, AUDIT: 100 });

/** Builds the hook catalog (DESIGN.md). Every tap names its plugin; tap only inside `register`. */
export function createHooks() {
  return Object.freeze({
    // lifecycle
    /** All plugins registered, before listen. */
    ready: new AsyncSeriesHook<[]>([]),
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

    // generation
    /** Each tap may rewrite the graph (seeds, filename prefixes, model paths) and returns it. */
    beforeSubmit: new AsyncSeriesWaterfallHook<[Graph, SubmitInfo]>(['graph', 'info']),
    afterSubmit: new AsyncSeriesHook<[Generation]>(['generation']),
    /** Hot path: check `hooks.progress.isUsed()` before building anything for it. */
    progress: new SyncHook<[Generation, TransportEvent]>(['generation', 'event']),
    afterComplete: new AsyncSeriesHook<[Generation]>(['generation']),
    failed: new AsyncSeriesHook<[Generation, string]>(['generation', 'reason']),
  });
}

export type Hooks = ReturnType<typeof createHooks>;
