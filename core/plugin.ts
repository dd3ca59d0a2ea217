import type { Logger } from 'pino';
import type { Context } from 'koa';
import type { Hooks } from './hooks.js';
import type { ServiceMap, ServiceName } from './services.js';
import type { BridgeConfig } from './config/schema.js';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { Principal } from './http/principal.js';
import type { BridgeError } from './errors.js';
import type { Static, TSchema } from '@sinclair/typebox';

export type JsonSchema = Record<string, unknown>;

/**
 * The type a schema describes: the static type of a TypeBox schema, so option, query and body types
 * come from the very schema ajv validates with and OpenAPI documents; a plain record for a
 * hand-written JSON schema.
 */
export type Infer<S> = S extends TSchema ? Static<S> : Record<string, unknown>;

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface RouteResponse {
  description: string;
  schema?: JsonSchema;
  /** Defaults to application/json. */
  contentType?: string;
  /** A real answer, for the OpenAPI document (it must validate against `schema`; test/openapi-precision checks). */
  example?: unknown;
}

/** What every route kind declares: where, who may call it, what its query is, what it answers. */
interface RouteCommon<Q> {
  /** Koa router path, e.g. /results/:id/:file */
  path: string;
  summary: string;
  description?: string;
  tags?: string[];
  /** `public`: no authentication; otherwise the scope the caller needs (default `client`). */
  scope?: string;
  query?: Q;
  /** Keyed by status code. */
  responses?: Record<string, RouteResponse>;
}

/**
 * An HTTP route with its schemas. The kernel validates `query` (with type coercion) and `body` before
 * the handler runs (400 naming the key), enforces `scope`, and records the route for the OpenAPI
 * document, so the docs are built from the same schemas the route validates with.
 */
export interface HttpRouteDefinition<Q = JsonSchema, B = JsonSchema> extends RouteCommon<Q> {
  method: HttpMethod;
  body?: B;
  /**
   * For the OpenAPI document only: a body schema more specific than the validating one, computed when
   * the document is built (e.g. one schema per registered workflow).
   */
  documentBody?: () => Promise<JsonSchema> | JsonSchema;
  /** For the OpenAPI document only: the body's media type when it is not JSON (e.g. multipart/form-data). */
  documentBodyType?: string;
  handler: (ctx: Context, input: RouteInput<Q, B>) => Promise<void> | void;
}

/** What a handler receives besides Koa's context: the validated query and body, typed by their schemas, and the caller. */
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
 * A websocket route: the upgrade goes through the same authentication, scope and query validation
 * as an HTTP route, and every refusal is an HTTP answer with the `{"error","detail"}` body before any
 * upgrade. A plain GET on the path answers 426. Recorded for the OpenAPI document as a GET.
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
  /** Opened as a websocket (recorded with method get). */
  websocket?: true;
}

export interface PluginContext<Options = Record<string, unknown>> {
  readonly name: string;
  /** Validated, defaults applied, frozen. */
  readonly options: Options;
  readonly config: BridgeConfig;
  readonly log: Logger;
  readonly hooks: Hooks;
  route<Q extends JsonSchema = JsonSchema, B extends JsonSchema = JsonSchema>(definition: RouteDefinition<Q, B>): void;
  /** Every route mounted so far, by any plugin (read it in `ready` or later for the full list). */
  routes(): readonly RecordedRoute[];
  provide<K extends ServiceName>(name: K, service: ServiceMap[K]): void;
  use<K extends ServiceName>(name: K): ServiceMap[K];
  tryUse<K extends ServiceName>(name: K): ServiceMap[K] | undefined;
  /** Runs at shutdown, in reverse registration order (first registered, last closed). */
  onClose(fn: () => Promise<void> | void): void;
}

/**
 * One plugin option that an environment variable or a CLI flag may set. The kernel reads them (so
 * `COMFY_BRIDGE_*` names and flags live with the plugin that owns the option), parses the text and
 * layers the value over the config file: defaults < file < environment < flags.
 */
export interface PluginSetting {
  /** Option path under plugins.<name>, dot-separated (e.g. "backends"). */
  key: string;
  /** Turns the raw text into the option's value; throw an Error whose message says what is wrong. Default: the text. */
  parse?: (raw: string) => unknown;
  /** A filesystem path: relative values resolve against the working directory (the embedded defaults: the package). */
  path?: boolean;
  /** Placeholder in `--help`, e.g. "URL[,URL...]". */
  value?: string;
  description: string;
  /**
   * Other plugins may declare the same variable or flag (each for its own option) when every
   * declaration says `shared`: COMFY_BRIDGE_DATABASE_URL sets storage-postgres's url and bus-postgres's.
   */
  shared?: boolean;
}

export interface PluginManifest<Options = Record<string, unknown>> {
  name: string;
  description?: string;
  /** Plugin names or service names that must be loaded first. */
  dependencies?: string[];
  /** Loaded first when present; not an error when absent. */
  optionalDependencies?: string[];
  /** Service names this plugin registers with ctx.provide. */
  provides?: ServiceName[];
  /** JSON schema of the plugin's options (defaults applied, additionalProperties false advised). */
  options?: JsonSchema;
  /** Environment variables (full `COMFY_BRIDGE_*` names) that set this plugin's options; setting one enables the plugin. */
  env?: Record<string, PluginSetting>;
  /** CLI flags (name without the dashes) that set this plugin's options; using one enables the plugin. */
  flags?: Record<string, PluginSetting>;
  /**
   * Plugins this one stands in for: when the config is read and this plugin ends up enabled, they are
   * disabled (storage-postgres replaces storage-nedb, so `storage-postgres: {url}` alone switches).
   */
  replaces?: string[];
  /**
   * Top-level config choices that enable this plugin, e.g. `{ storage: 'postgres' }`: a config with
   * `storage: postgres` enables it (and so disables what it replaces). The kernel knows no choice by
   * name: the keys and values are whatever the plugins declare, and a value no plugin declares is refused.
   */
  selectedBy?: Record<string, string>;
  register(ctx: PluginContext<Options>): Promise<void> | void;
}

/**
 * Identity helper that gives plugin authors type checking of their manifest. With a TypeBox schema as
 * `options`, `ctx.options` is typed from it; otherwise give the options type as the type argument.
 */
export function definePlugin<S extends TSchema>(manifest: PluginManifest<Static<S>> & { options: S }): PluginManifest<Static<S>>;
export function definePlugin<Options = Record<string, unknown>>(manifest: PluginManifest<Options>): PluginManifest<Options>;
export function definePlugin(manifest: PluginManifest<unknown>): PluginManifest<unknown> {
  return manifest;
}
