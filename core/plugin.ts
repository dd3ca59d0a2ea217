import type { Logger } from 'pino';
import type { Context } from 'koa';
import type { Hooks } from './hooks.js';
import type { ServiceMap, ServiceName } from './services.js';
import type { BridgeConfig } from './config/schema.js';
import type { Scope } from './contracts/auth.js';

export type JsonSchema = Record<string, unknown>;

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface RouteResponse {
  description: string;
  schema?: JsonSchema;
  /** Defaults to application/json. */
  contentType?: string;
  /** A real answer, for the OpenAPI document (it must validate against `schema`; test/openapi-precision checks). */
  example?: unknown;
}

/**
 * A route with its schemas. The kernel validates `query` (with type coercion) and `body` before the
 * handler runs (400 naming the key), enforces `scope`, and records the route for the OpenAPI
 * document, so the docs are built from the same schemas the route validates with.
 */
export interface RouteDefinition {
  method: HttpMethod;
  /** Koa router path, e.g. /results/:id/:file */
  path: string;
  summary: string;
  description?: string;
  tags?: string[];
  /** public: no authentication; client (default): any authenticated caller; admin: admin scope. */
  scope?: 'public' | Scope;
  query?: JsonSchema;
  body?: JsonSchema;
  /** Keyed by status code. */
  responses?: Record<string, RouteResponse>;
  /**
   * For the OpenAPI document only: a body schema more specific than the validating one, computed when
   * the document is built (e.g. one schema per registered workflow).
   */
  documentBody?: () => Promise<JsonSchema> | JsonSchema;
  /** For the OpenAPI document only: the body's media type when it is not JSON (e.g. multipart/form-data). */
  documentBodyType?: string;
  handler: (ctx: Context) => Promise<void> | void;
}

export interface RecordedRoute extends Omit<RouteDefinition, 'handler'> {
  plugin: string;
}

export interface PluginContext<Options = Record<string, unknown>> {
  readonly name: string;
  /** Validated, defaults applied, frozen. */
  readonly options: Options;
  readonly config: BridgeConfig;
  readonly log: Logger;
  readonly hooks: Hooks;
  route(definition: RouteDefinition): void;
  /** Every route mounted so far, by any plugin (read it in `ready` or later for the full list). */
  routes(): readonly RecordedRoute[];
  provide<K extends ServiceName>(name: K, service: ServiceMap[K]): void;
  use<K extends ServiceName>(name: K): ServiceMap[K];
  tryUse<K extends ServiceName>(name: K): ServiceMap[K] | undefined;
  /** Runs at shutdown, in reverse registration order (first registered, last closed). */
  onClose(fn: () => Promise<void> | void): void;
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
  register(ctx: PluginContext<Options>): Promise<void> | void;
}

/** Identity helper that gives plugin authors type checking of their manifest and options. */
export function definePlugin<Options = Record<string, unknown>>(manifest: PluginManifest<Options>): PluginManifest<Options> {
  return manifest;
}
