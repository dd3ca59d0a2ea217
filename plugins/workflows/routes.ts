import { Type } from '@sinclair/typebox';
import type { Context } from 'koa';
import type { PluginContext } from '../../core/plugin.js';
import { notFound } from '../../core/errors.js';
import { ERROR_BODY } from '../../contracts/schemas.js';
import { isAdmin, type Principal } from '../../contracts/auth.js';
import type { Transport } from '../../contracts/transport.js';
import type { WorkflowRegistry } from '../../plugins/workflows/api.js';
import { availabilityOf } from './availability.js';

const listItemSchema = {
  title: 'WorkflowSummary',
  type: 'object',
  required: ['alias', 'description', 'thumbnail'],
  properties: {
    alias: { type: 'string' },
    description: { type: 'string' },
    thumbnail: { type: ['string', 'null'], description: 'URL of a preview image, or null.' },
    available: {
      type: 'boolean',
      description: 'Whether an up ComfyUI backend has the node classes and model files it needs (and any pinned tags). Absent without a transport.',
    },
    missing: {
      type: 'object',
      description: 'Admins only, when something is missing: per backend, what it lacks to run this workflow.',
      additionalProperties: { type: 'array', items: { type: 'string' } },
    },
  },
};

const inputSchema = {
  title: 'WorkflowInput',
  type: 'object',
  required: ['type', 'title', 'class', 'default'],
  properties: {
    type: { enum: ['str', 'int', 'float', 'bool'], description: 'Type of the default value.' },
    title: { type: 'string', description: "The node's title in the workflow." },
    class: { type: 'string', description: "The node's class_type." },
    default: { description: 'The value stored in the workflow.' },
    description: { type: 'string' },
    min: { type: 'number' },
    max: { type: 'number' },
    step: { type: 'number' },
    options: { type: 'array', description: 'The allowed values.' },
    multiline: { type: 'boolean' },
    kind: { const: 'image', description: 'Takes the stored name of an uploaded (or shipped) image.' },
  },
};

/** What the routes can use beyond the service contract, when the registry offers it (FileWorkflowRegistry does). */
type Registry = WorkflowRegistry & {
  readonly version?: number;
  describedBytes?(alias: string): Buffer | undefined;
  describeBytes?(alias: string): Promise<Buffer | undefined>;
};

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * The /workflow-list bodies, serialised and encoded once, kept while the workflow set, the transport and its
 * capability generation stay the same (availability is derived from nothing else), one per caller's view.
 */
class ListAnswers {
  #version: number | undefined;
  #transport: Transport | undefined;
  #generation: number | undefined;
  readonly #bodies = new Map<string, Buffer>();

  /** The kept body for `view`, or undefined; forgets every body once one of the stamps moved. */
  kept(version: number | undefined, transport: Transport | undefined, generation: number | undefined, view: string): Buffer | undefined {
    if (version !== this.#version || transport !== this.#transport || generation !== this.#generation || this.#bodies.size >= 64) {
      this.#bodies.clear();
      this.#version = version;
      this.#transport = transport;
      this.#generation = generation;
    }
    return this.#bodies.get(view);
  }

  /** Encodes and keeps `body` (when the stamps can tell it stale: a versioned registry). */
  keep(version: number | undefined, view: string, body: unknown): Buffer {
    const bytes = Buffer.from(JSON.stringify(body));
    if (version !== undefined) this.#bodies.set(view, bytes);
    return bytes;
  }
}

export function mountWorkflowRoutes(
  ctx: Pick<PluginContext, 'route'>,
  registry: Registry,
  transport: () => Transport | undefined = () => undefined,
): void {
  const listAnswers = new ListAnswers();
  ctx.route({
    method: 'get',
    path: '/workflow-list',
    summary: 'List the workflows clients may run',
    tags: ['workflows'],
    scope: 'client',
    responses: {
      '200': {
        description: 'Every loaded workflow, by alias.',
        schema: { type: 'array', items: listItemSchema },
        example: [{ alias: 'text-to-image', description: 'Text to image with Stable Diffusion 1.5.', thumbnail: null, available: true }],
      },
    },
    handler: (koa, { principal }) => {
      const admin = isAdmin(principal as Principal);
      const current = transport();
      const generation = current ? current.capabilityGeneration?.() : 0;
      const { version } = registry;
      koa.set('Content-Type', JSON_TYPE);
      // While the capabilities stay the same, availability is too: the body is kept per view and sent as it is.
      if (generation !== undefined) {
        const view = admin ? 'admin' : 'client';
        koa.body = listAnswers.kept(version, current, generation, view) ?? listAnswers.keep(version, view, listBody(current, admin));
        return;
      }
      // A transport that cannot say when its capabilities change: availability is asked per request, and the body
      // rebuilt only when what this caller would see changed.
      const workflows = registry.list();
      const availability = workflows.map(({ alias, graph }) => availabilityOf(current, alias, graph));
      let view = admin ? 'admin' : 'client';
      for (const a of availability) view += a === undefined ? '|-' : a.available ? '|1' : admin ? `|0${JSON.stringify(a.missing)}` : '|0';
      koa.body = listAnswers.kept(version, current, undefined, view) ?? listAnswers.keep(version, view, listBody(current, admin, workflows, availability));
    },
  });

  /** The /workflow-list answer: each workflow with its availability, and what is missing where for an admin. */
  function listBody(
    current: Transport | undefined,
    admin: boolean,
    workflows = registry.list(),
    availability = workflows.map(({ alias, graph }) => availabilityOf(current, alias, graph)),
  ): unknown {
    return workflows.map(({ alias, description, thumbnail }, i) => {
      const a = availability[i];
      if (!a) return { alias, description, thumbnail };
      return { alias, description, thumbnail, available: a.available, ...(admin && !a.available ? { missing: a.missing } : {}) };
    });
  }

  ctx.route({
    method: 'get',
    path: '/workflow-info',
    summary: "A workflow's designated inputs",
    description:
      'Keyed "<node id>/<input name>". Constraints (min, max, step, options, multiline, description) come from the ' +
      "workflow's manifest and, when a ComfyUI backend answers, from its /object_info.",
    tags: ['workflows'],
    scope: 'client',
    query: Type.Object({ workflow: Type.String({ minLength: 1, maxLength: 128, description: 'The workflow alias.' }) }),
    responses: {
      '200': {
        description: 'The designated inputs.',
        schema: { type: 'object', additionalProperties: inputSchema },
        example: {
          '3/seed': { type: 'int', title: 'Seed', class: 'KSampler', default: 156680208700286, min: 0, max: 18446744073709552000 },
          '3/cfg': { type: 'float', title: 'CFG scale', class: 'KSampler', default: 8, min: 0, max: 30, step: 0.5 },
          '6/text': { type: 'str', title: 'Prompt', class: 'CLIPTextEncode', default: 'beautiful scenery nature glass bottle landscape', multiline: true },
          '10/image': { type: 'str', title: 'Load Image', class: 'LoadImage', default: 'example.png', kind: 'image' },
        },
      },
      '400': { description: 'Missing workflow parameter.', schema: ERROR_BODY },
      '404': { description: 'No workflow with that alias.', schema: ERROR_BODY },
    },
    handler: (koa, { query: { workflow } }) => {
      // A kept answer, still current, is sent as the bytes it was encoded to: nothing awaited.
      const ready = registry.describedBytes?.(workflow);
      if (ready) {
        koa.set('Content-Type', JSON_TYPE);
        koa.body = ready;
        return;
      }
      return describeLater(koa, workflow);
    },
  });

  async function describeLater(koa: Context, workflow: string): Promise<void> {
    const inputs = registry.describeBytes ? await registry.describeBytes(workflow) : await registry.describe(workflow);
    if (inputs === undefined) throw notFound(`no workflow named "${workflow}"`);
    if (Buffer.isBuffer(inputs)) koa.set('Content-Type', JSON_TYPE);
    koa.body = inputs;
  }
}
