import type { Logger } from 'pino';
import type { Context } from 'koa';
import type { Hooks } from './hooks.js';
import type { ServiceMap, ServiceName } from './services.js';
import type { BridgeConfig } from './config/schema.js';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { Principal } from './http/principal.js';
import type { BridgeError } from './errors.js';
import type { Clock } from './timers.js';
import type { Static, TSchema } from '@sinclair/typebox';

export type JsonSchema = Record<string, unknown>;

/** A TypeBox schema's static type (the schema ajv validates with and OpenAPI documents); a record for plain JSON schema. */
export type Infer<S> = S extends TSchema ? Static<S> : Record<string, unknown>;

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface RouteResponse {
  description: string;
  schema?: JsonSchema;
  contentType?: string; // default application/json
  /** A real answer, for the OpenAPI document (it must validate against `schema`). */
  example?: unknown;
}

/** What every route kind declares. `scope`: `public` (no authentication) or the scope the caller needs (default `client`). */
interface RouteCommon<Q> {
  path: string; // Koa router path, e.g. /results/:id/:file
  summary: string;
  description?: string;
  tags?: string[];
  scope?: string;
  query?: Q;
  responses?: Record<string, RouteResponse>; // by status code
}

/** An HTTP route: the kernel checks scope, query (coerced) and body (400 naming the key), and records it for OpenAPI. */
export interface HttpRouteDefinition<Q = JsonSchema, B = JsonSchema> extends RouteCommon<Q> {
  method: HttpMethod;
  body?: B;
  /** OpenAPI only: a body schema more specific than the validating one (e.g. one per workflow), and a non-JSON media type. */
  documentBody?: () => Promise<JsonSchema> | JsonSchema;
  documentBodyType?: string;
  handler: (ctx: Context, input: RouteInput<Q, B>) => Promise<void> | void;
}

/** What a handler receives besides Koa's context, typed by the route's schemas. */
export interface RouteInput<Q = JsonSchema, B = JsonSchema> {
  query: Infer<Q>;
  body: Infer<B>;
  principal: Principal;
}

/** An upgrade the kernel admitted: the caller, and its query as the route's schema validated it. */
export interface UpgradeRequest<Q = JsonSchema> {
  readonly principal: Principal;
  readonly query: Infer<Q>;
  readonly request: IncomingMessage;
}

/**
 * A websocket route: the upgrade is admitted like an HTTP route and refused with the `{"error","detail"}` body
 * before any upgrade; a plain GET answers 426. Recorded for OpenAPI as a GET.
 */
export interface WebSocketRouteDefinition<Q = JsonSchema> extends RouteCommon<Q> {
  method: 'ws';
  /** Largest frame a client may send, in bytes; a bigger one closes the socket (1009). */
  maxPayload: number;
  /** Last checks before the upgrade (caps, bindings); throw a BridgeError to refuse. */
  accept?: (upgrade: UpgradeRequest<Q>) => Promise<void> | void;
  /** The socket is open. */
  open: (socket: WebSocket, upgrade: UpgradeRequest<Q>) => void;
  /** This route refused an upgrade (counted by plugins that report refusals). */
  refused?: (error: BridgeError) => void;
}

export type RouteDefinition<Q = JsonSchema, B = JsonSchema> = HttpRouteDefinition<Q, B> | WebSocketRouteDefinition<Q>;

export interface RecordedRoute extends Omit<HttpRouteDefinition, 'handler'> {
  plugin: string;
  scope: string;
  websocket?: true;
}

export interface PluginContext<Options = Record<string, unknown>> {
  readonly name: string;
  readonly options: Options; // validated, defaults applied, frozen
  readonly config: BridgeConfig;
  readonly log: Logger;
  readonly hooks: Hooks;
  readonly clock: Clock; // for timers tests wait on (expiry, retention, sweeps)
  route<Q extends JsonSchema = JsonSchema, B extends JsonSchema = JsonSchema>(definition: RouteDefinition<Q, B>): void;
  routes(): readonly RecordedRoute[]; // every route mounted so far (all of them from `ready` on)
  provide<K extends ServiceName>(name: K, service: ServiceMap[K]): void;
  use<K extends ServiceName>(name: K): ServiceMap[K];
  tryUse<K extends ServiceName>(name: K): ServiceMap[K] | undefined;
  onClose(fn: () => Promise<void> | void): void; // at shutdown, in reverse registration order
}

/**
 * An option an environment variable or CLI flag sets, declared by the plugin that owns it; layered
 * defaults < file < environment < flags. `key`: option path under plugins.<name> ("backends"); `parse`: text →
 * value, throwing an Error that says what is wrong; `path`: relative values resolve against the working
 * directory; `value`: placeholder in --help; `shared`: several plugins may declare the name, each for its own
 * option (COMFY_BRIDGE_DATABASE_URL sets storage-postgres's url and bus-postgres's).
 */
export interface PluginSetting {
  key: string;
  parse?: (raw: string) => unknown;
  path?: boolean;
  value?: string;
  description: string;
  shared?: boolean;
}

export interface PluginManifest<Options = Record<string, unknown>> {
  name: string;
  description?: string;
  /** Plugin or service names loaded first; optional ones only when present. */
  dependencies?: string[];
  optionalDependencies?: string[];
  provides?: ServiceName[];
  /** JSON schema of the options (defaults applied; TypeBox types ctx.options). */
  options?: JsonSchema;
  /** `COMFY_BRIDGE_*` variables and CLI flags (no dashes) that set options; using one enables the plugin. */
  env?: Record<string, PluginSetting>;
  flags?: Record<string, PluginSetting>;
  /** Plugins disabled when this one ends up enabled (storage-postgres replaces storage-nedb). */
  replaces?: string[];
  /** Top-level config choices that enable it, e.g. `{ storage: 'postgres' }` (applied by cli/config/choices.ts). */
  selectedBy?: Record<string, string>;
  register(ctx: PluginContext<Options>): Promise<void> | void;
}

/** Type checks a manifest; a TypeBox `options` schema types ctx.options, else give the type as the argument. */
export function definePlugin<S extends TSchema>(manifest: PluginManifest<Static<S>> & { options: S }): PluginManifest<Static<S>>;
export function definePlugin<Options = Record<string, unknown>>(manifest: PluginManifest<Options>): PluginManifest<Options>;
export function definePlugin(manifest: PluginManifest<unknown>): PluginManifest<unknown> {
  return manifest;
}
