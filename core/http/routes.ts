import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { WebSocketServer } from 'ws';
import type { ValidateFunction } from 'ajv';
import { createAjv, describeErrors } from '../config/ajv.js';
import { badRequest, BootError, BridgeError, forbidden, unsupportedMediaType } from '../errors.js';
import { toBridgeError } from './errors.js';
import type { Hooks } from '../hooks.js';
import type { HttpRouteDefinition, JsonSchema, RecordedRoute, RouteDefinition, RouteResponse, UpgradeRequest, WebSocketRouteDefinition } from '../plugin.js';
import { ANONYMOUS, hasScope, PUBLIC, type Principal } from './principal.js';
import { pendingUpgrades } from './upgrade.js';
import { parsePlainQuery } from '../../lib/plain-query.js';
import { QueryMemo } from '../../lib/query-memo.js';

/** What both route kinds check first: the caller, its scope, the query. */
type Admission = { scope: string; query: ValidateFunction | undefined; numericQuery: Map<string, 'integer' | 'number'>; seen: QueryMemo };

/**
 * Plugin routes with their schemas: authenticate, check the scope, validate query (coerced) and body, run the
 * handler. Each route is recorded so OpenAPI is built from the schemas that validate; a method+path mounted twice
 * stops the boot naming both plugins.
 */
export class RouteTable {
  readonly router = new Router();
  /** One per websocket route; closed at shutdown. */
  readonly websockets: WebSocketServer[] = [];
  /** Shutdown began: new websockets are refused. */
  closing = false;
  readonly #recorded: RecordedRoute[] = [];
  readonly #owners = new Map<string, string>();
  /** Routes without parameters, by method then path (no key string built per request): a request on one skips the router's regex walk. */
  readonly #exact = new Map<string, Map<string, { path: string; run: (ctx: Context) => unknown }>>();
  readonly #queryAjv = createAjv({ coerceTypes: 'array' });
  readonly #bodyAjv = createAjv();

  constructor(private readonly hooks: Hooks) {}

  /** Exact paths (the common case) skip the router; the rest goes through it, which also answers 404, 405 and 501. */
  dispatch(): (ctx: Context) => unknown {
    const routed = this.router.routes() as unknown as Middleware;
    const allowed = this.router.allowedMethods() as unknown as Middleware;
    return (ctx) => {
      const exact = this.#exact.get(ctx.req.method!)?.get(ctx.path);
      if (!exact) return routed(ctx, () => allowed(ctx, () => Promise.resolve()));
      // What the router would have set: metrics label requests by the route's path.
      (ctx as Context & { _matchedRoute?: string })._matchedRoute = exact.path;
      (ctx as Context & { params?: Record<string, string> }).params = {};
      return exact.run(ctx);
    };
  }

  recorded = (): readonly RecordedRoute[] => this.#recorded;

  add(plugin: string, definition: RouteDefinition<JsonSchema, JsonSchema>): void {
    const method = definition.method === 'ws' ? 'get' : definition.method;
    this.#claim(plugin, method, definition.path);
    const query = this.#compile(this.#queryAjv, definition.query, plugin, definition);
    const admission: Admission = { scope: definition.scope ?? 'client', query, numericQuery: numericKeys(definition.query), seen: new QueryMemo() };
    if (definition.method === 'ws') this.#addWebSocket(plugin, definition, admission);
    else this.#addHttp(plugin, definition, admission);
  }

  /** The caller, its scope checked: known at once on a public route or when no strategy is tapped (everyone may do everything). */
  #principal(scope: string, ctx: Context): Principal | Promise<Principal> {
    return scope === 'public' ? PUBLIC : this.hooks.authenticate.isUsed() ? this.#authenticate(ctx, scope) : ANONYMOUS;
  }

  /** The query validated (coerced), once per distinct query string; after authentication, so a caller without the scope learns nothing about it. */
  #query = (admission: Admission, ctx: Context, raw = ctx.querystring): Record<string, unknown> =>
    !admission.query ? {} : (admission.seen.copy(raw) ?? admission.seen.keep(raw, validated(admission.query, plainNumbers(parsePlainQuery(raw) ?? { ...ctx.query }, admission.numericQuery), 'query parameter') as Record<string, unknown>));

  #addHttp(plugin: string, definition: HttpRouteDefinition, admission: Admission): void {
    const { handler, ...described } = definition;
    const body = this.#compile(this.#bodyAjv, definition.body, plugin, definition);
    const serve = (ctx: Context, principal: Principal) => {
      ctx.state.principal = principal;
      const query = (ctx.state.query = this.#query(admission, ctx));
      if (body) ctx.state.body = validated(body, requestBody(ctx), 'body field');
      return handler(ctx, { query, body: (ctx.state.body ?? {}) as Record<string, unknown>, principal });
    };
    // Synchronous while nothing needs waiting for: a read route then costs no promise of its own.
    const run = (ctx: Context) => {
      const principal = this.#principal(admission.scope, ctx);
      return principal instanceof Promise ? principal.then((known) => serve(ctx, known)) : serve(ctx, principal);
    };
    this.router[definition.method](definition.path, run);
    const verb = definition.method.toUpperCase();
    if (!definition.path.includes(':')) this.#exact.set(verb, (this.#exact.get(verb) ?? new Map()).set(definition.path, { path: definition.path, run }));
    this.#recorded.push(Object.freeze({ ...described, scope: admission.scope, plugin }));
  }

  #addWebSocket(plugin: string, definition: WebSocketRouteDefinition, admission: Admission): void {
    const { open: _open, accept: _accept, refused: _refused, maxPayload: _maxPayload, method: _method, ...described } = definition;
    // No compression (CPU per socket, zip bombs); the sockets are the plugin's to track.
    const server = new WebSocketServer({ noServer: true, maxPayload: definition.maxPayload, perMessageDeflate: false, clientTracking: false });
    this.websockets.push(server);
    this.router.get(definition.path, async (ctx: Context) => {
      const pending = pendingUpgrades.get(ctx.req);
      try {
        const upgrade: UpgradeRequest = { principal: await this.#principal(admission.scope, ctx), query: this.#query(admission, ctx), request: ctx.req };
        // A plain GET passes the same checks, then learns it must upgrade.
        if (!pending) throw new BridgeError(426, 'upgrade_required', `open ${definition.path} as a websocket (ws://host${definition.path}?…)`, { headers: { Upgrade: 'websocket' } });
        if (this.closing) throw new BridgeError(503, 'unavailable', 'the server is shutting down', { headers: { 'Retry-After': '5' } });
        await definition.accept?.(upgrade);
        ctx.status = 101;
        ctx.respond = false;
        ctx.res.detachSocket(pending.socket);
        server.handleUpgrade(ctx.req, pending.socket, pending.head, (socket) => definition.open(socket, upgrade));
      } catch (error) {
        if (pending) definition.refused?.(toBridgeError(error));
        throw error;
      }
    });
    const responses: Record<string, RouteResponse> = { '101': { description: 'Switching to the websocket protocol.' }, ...definition.responses };
    responses['426'] ??= { description: 'Sent without a websocket upgrade.' };
    this.#recorded.push(Object.freeze({ ...described, method: 'get', responses, scope: admission.scope, plugin, websocket: true }));
  }

  #claim(plugin: string, method: string, path: string): void {
    // Parameter names do not make two paths different: /a/:x and /a/:y match the same requests.
    const key = `${method.toUpperCase()} ${path.replace(/:[A-Za-z0-9_]+/g, ':')}`;
    const owner = this.#owners.get(key);
    if (owner !== undefined) throw new BootError(`plugin "${plugin}" mounts ${method.toUpperCase()} ${path}, which plugin "${owner}" already mounts`);
    this.#owners.set(key, plugin);
  }

  async #authenticate(ctx: Context, scope: string): Promise<Principal> {
    const principal = (await this.hooks.authenticate.promise({ method: ctx.method, path: ctx.path, headers: ctx.headers, query: ctx.query })) ?? ANONYMOUS;
    if (!hasScope(principal, scope)) throw forbidden(`this route needs the ${scope} scope`);
    return principal;
  }

  #compile(ajv: ReturnType<typeof createAjv>, schema: object | undefined, plugin: string, route: RouteDefinition): ValidateFunction | undefined {
    if (!schema) return undefined;
    try {
      return ajv.compile(schema);
    } catch (error) {
      throw new BootError(`plugin "${plugin}": route ${route.method.toUpperCase()} ${route.path} has an invalid schema: ${(error as Error).message}`);
    }
  }
}

/** Query keys whose schema type is integer or number. */
function numericKeys(schema: object | undefined): Map<string, 'integer' | 'number'> {
  const properties = (schema as { properties?: Record<string, { type?: unknown }> } | undefined)?.properties ?? {};
  return new Map(Object.entries(properties).flatMap(([key, { type }]) => (type === 'integer' || type === 'number' ? [[key, type] as const] : [])));
}

const PLAIN = { integer: /^-?\d+$/, number: /^-?\d+(\.\d+)?$/ };

/** ajv's Number() also reads "1e1", "0x10" and " 7 ": a query number must be plain decimal digits. */
function plainNumbers(query: Record<string, unknown>, keys: Map<string, 'integer' | 'number'>): Record<string, unknown> {
  for (const [key, type] of keys) if (typeof query[key] === 'string' && !PLAIN[type].test(query[key])) throw badRequest(`invalid query parameter: ${key} must be ${type}`);
  return query;
}

function requestBody(ctx: Context): unknown {
  const hasBody = Number(ctx.get('content-length') || 0) > 0 || ctx.get('transfer-encoding') !== '';
  if (hasBody && !ctx.is('application/json')) throw unsupportedMediaType('send the body as application/json');
  return (ctx.request as { body?: unknown }).body ?? {};
}

function validated(validate: ValidateFunction, value: unknown, what: string): unknown {
  if (!validate(value)) throw badRequest(`invalid ${what}: ${describeErrors(validate.errors)}`);
  return value;
}
