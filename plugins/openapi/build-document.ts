import type { ValidateFunction } from 'ajv';
import type { JsonSchema, RecordedRoute } from '../../core/plugin.js';
import { ERROR_BODY, SOCKET_FRAME } from '../../contracts/schemas.js';
import { createAjv } from '../../core/config/ajv.js';
import { Components } from './components.js';
import { orderedTags } from './tags.js';

export interface DocumentInfo {
  version: string;
  serverUrl: string | null;
  authEnabled: boolean;
  description: string;
}

const STANDARD_ERRORS: Record<string, string> = {
  '400': 'Malformed or missing parameter, or a body field that is not allowed.',
  '401': 'Missing or unknown API key (only when auth is on).',
  '403': 'The key lacks the scope this route needs (only when auth is on).',
  '500': 'Unexpected server fault; the detail never carries internals.',
};

/** Koa router paths (`/results/:id/:file`) become OpenAPI templates (`/results/{id}/{file}`). */
export const toTemplate = (path: string): string => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
const pathParams = (path: string): string[] => [...path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);

/** One validator per body schema, to tell whether the server needs a body at all. */
const bodyValidators = new WeakMap<object, ValidateFunction>();
const ajv = createAjv();

/**
 * A body is required only when the server would refuse none: the kernel validates an absent body as
 * `{}`, so a schema that accepts `{}` (POST /free, POST /interrupt) documents an optional body.
 */
function bodyRequired(schema: JsonSchema): boolean {
  let validate = bodyValidators.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    bodyValidators.set(schema, validate);
  }
  return !validate({});
}

/**
 * An OpenAPI 3.1 document of the routes actually mounted, from the schemas they validate with.
 * Response schemas with a `title` become named components (`Error`, `StatusFrame`, `HistoryItem`…),
 * so generated clients get named types.
 */
export async function buildDocument(routes: readonly RecordedRoute[], info: DocumentInfo): Promise<Record<string, unknown>> {
  const components = new Components();
  components.add(ERROR_BODY);
  // Websocket frames are no HTTP response, but clients need their type: named here, referenced by GET /ws.
  components.add(SOCKET_FRAME);
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const template = toTemplate(route.path);
    paths[template] ??= {};
    paths[template][route.method] = await operation(route, info.authEnabled, components);
  }
  return {
    openapi: '3.1.0',
    info: { title: 'comfy-bridge', version: info.version, description: info.description },
    ...(info.serverUrl ? { servers: [{ url: info.serverUrl }] } : {}),
    tags: orderedTags(routes.map((route) => route.tags ?? [route.plugin]).flat()),
    paths,
    components: {
      schemas: components.schemas(),
      ...(info.authEnabled
        ? {
            securitySchemes: {
              bearer: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <API key>' },
              apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
            },
          }
        : {}),
    },
  };
}

async function operation(route: RecordedRoute, authEnabled: boolean, components: Components): Promise<Record<string, unknown>> {
  const parameters = [
    ...pathParams(route.path).map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
    ...queryParameters(route.query),
  ];
  const bodySchema = route.documentBody ? await route.documentBody() : route.body;
  const responses: Record<string, unknown> = {};
  for (const [status, response] of Object.entries(route.responses ?? { '200': { description: 'OK' } })) {
    const media = {
      ...(response.schema ? { schema: components.refer(response.schema) } : {}),
      ...(response.example !== undefined ? { example: response.example } : {}),
    };
    responses[status] = {
      description: response.description,
      ...(response.schema || response.contentType ? { content: { [response.contentType ?? 'application/json']: media } } : {}),
    };
  }
  const relevantErrors = Object.entries(STANDARD_ERRORS).filter(
    ([status]) => (authEnabled && route.scope !== 'public') || (status !== '401' && status !== '403'),
  );
  for (const [status, description] of relevantErrors) {
    responses[status] ??= { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  }
  const required = route.body ? bodyRequired(route.body) : true;
  return {
    operationId: `${route.method}${route.path.replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    tags: route.tags ?? [route.plugin],
    ...(parameters.length ? { parameters } : {}),
    ...(bodySchema ? { requestBody: { required, content: { [route.documentBodyType ?? 'application/json']: { schema: bodySchema } } } } : {}),
    responses,
    ...(authEnabled ? { security: route.scope === 'public' ? [] : [{ bearer: [] }, { apiKey: [] }] } : {}),
    'x-scope': route.scope ?? 'client',
  };
}

function queryParameters(schema: JsonSchema | undefined): Record<string, unknown>[] {
  const properties = (schema?.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema?.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => ({
    name,
    in: 'query',
    required: required.has(name),
    ...(typeof property.description === 'string' ? { description: property.description } : {}),
    schema: property,
  }));
}
