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
    const body = this.#compile(this.#bodyAjv, definition.body, plugin, definition);

    this.router[definition.method](definition.path, async (ctx: Context) => {
      ctx.state.principal = scope === 'public' ? PUBLIC : await this.#authenticate(ctx, scope);
      if (query) ctx.state.query = validated(query, { ...ctx.query }, 'query parameter');
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
