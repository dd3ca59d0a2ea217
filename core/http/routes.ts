import Router from '@koa/router';
import type { Context } from 'koa';
import type { ValidateFunction } from 'ajv';
import { ANONYMOUS, isAdmin, type AuthRequest, type Principal } from '../contracts/auth.js';
import { createAjv, describeErrors } from '../config/ajv.js';
import { badRequest, BootError, forbidden, unsupportedMediaType } from '../errors.js';
import type { Hooks } from '../hooks.js';
import type { RecordedRoute, RouteDefinition } from '../plugin.js';

/** Callers of public routes are not authenticated at all. */
const PUBLIC: Principal = Object.freeze({ id: 'public', scopes: [], anonymous: true });

/**
 * Mounts plugin routes with their schemas: authenticates, checks the scope, validates query
 * (strings coerced to the schema's types) and body, then runs the handler. Every route is recorded
 * so the OpenAPI document is built from the very schemas that validate requests.
 */
export class RouteTable {
  readonly router = new Router();
  readonly #recorded: RecordedRoute[] = [];
  readonly #queryAjv = createAjv({ coerceTypes: 'array' });
  readonly #bodyAjv = createAjv();

  constructor(private readonly hooks: Hooks) {}

  recorded(): readonly RecordedRoute[] {
    return this.#recorded;
  }

  add(plugin: string, definition: RouteDefinition): void {
    const { handler, ...described } = definition;
    const scope = definition.scope ?? 'client';
    const query = this.#compile(this.#queryAjv, definition.query, plugin, definition);
    const numericQuery = numericKeys(definition.query);
    const body = this.#compile(this.#bodyAjv, definition.body, plugin, definition);

    this.router[definition.method](definition.path, async (ctx: Context) => {
      ctx.state.principal = scope === 'public' ? PUBLIC : await this.#authenticate(ctx, scope);
      if (query) ctx.state.query = validated(query, plainNumbers({ ...ctx.query }, numericQuery), 'query parameter');
      if (body) ctx.state.body = validated(body, requestBody(ctx), 'body field');
      await handler(ctx);
    });
    this.#recorded.push(Object.freeze({ ...described, scope, plugin }));
  }

  async #authenticate(ctx: Context, scope: 'client' | 'admin'): Promise<Principal> {
    const request: AuthRequest = { method: ctx.method, path: ctx.path, headers: ctx.headers, query: ctx.query };
    const principal = (await this.hooks.authenticate.promise(request)) ?? ANONYMOUS;
    if (scope === 'admin' && !isAdmin(principal)) throw forbidden('this route needs the admin scope');
    if (scope === 'client' && !isAdmin(principal) && !principal.scopes.includes('client')) {
      throw forbidden('this route needs the client scope');
    }
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
  const properties = ((schema as { properties?: Record<string, { type?: unknown }> } | undefined)?.properties ?? {}) as Record<string, { type?: unknown }>;
  const keys = new Map<string, 'integer' | 'number'>();
  for (const [key, property] of Object.entries(properties)) {
    if (property.type === 'integer' || property.type === 'number') keys.set(key, property.type);
  }
  return keys;
}

const PLAIN = { integer: /^-?\d+$/, number: /^-?\d+(\.\d+)?$/ };

/**
 * ajv coerces with Number(), which also reads "1e1", "0x10" and " 7 " as numbers; a query number is
 * written in plain decimal digits or refused, naming the key.
 */
function plainNumbers(query: Record<string, unknown>, keys: Map<string, 'integer' | 'number'>): Record<string, unknown> {
  for (const [key, type] of keys) {
    const raw = query[key];
    if (typeof raw === 'string' && !PLAIN[type].test(raw)) throw badRequest(`invalid query parameter: ${key} must be ${type}`);
  }
  return query;
}

function requestBody(ctx: Context): unknown {
  const parsed = (ctx.request as { body?: unknown }).body;
  const hasBody = Number(ctx.get('content-length') || 0) > 0 || ctx.get('transfer-encoding') !== '';
  if (hasBody && !ctx.is('application/json')) throw unsupportedMediaType('send the body as application/json');
  return parsed === undefined ? {} : parsed;
}

function validated(validate: ValidateFunction, value: unknown, what: string): unknown {
  if (!validate(value)) throw badRequest(`invalid ${what}: ${describeErrors(validate.errors)}`);
  return value;
}
