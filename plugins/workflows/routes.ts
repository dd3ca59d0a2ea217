import { Type } from '@sinclair/typebox';
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
type Registry = WorkflowRegistry & { readonly version?: number; describeJson?(alias: string): Promise<string | undefined> };

const JSON_TYPE = 'application/json; charset=utf-8';

/** The /workflow-list body for one (workflow set, caller's view of availability), serialised and encoded once. */
class ListAnswers {
  #version: number | undefined;
  readonly #bodies = new Map<string, Buffer>();

  /** `view` says everything the body depends on besides the workflow set. */
  get(version: number | undefined, view: string, build: () => unknown): Buffer {
    if (version === undefined) return Buffer.from(JSON.stringify(build()));
    if (version !== this.#version || this.#bodies.size >= 64) {
      this.#bodies.clear();
      this.#version = version;
    }
    let body = this.#bodies.get(view);
    if (body === undefined) this.#bodies.set(view, (body = Buffer.from(JSON.stringify(build()))));
    return body;
  }
}

/** The bytes of each workflow's last serialised description: the registry hands out the same string while it reuses one. */
class InfoBytes {
  readonly #last = new Map<string, { text: string; bytes: Buffer }>();

  of(workflow: string, text: string): Buffer {
    const last = this.#last.get(workflow);
    if (last?.text === text) return last.bytes;
    const bytes = Buffer.from(text);
    // Keyed by known aliases only (an unknown one answered 404 before): bounded by the workflow set.
    this.#last.set(workflow, { text, bytes });
    return bytes;
  }
}

export function mountWorkflowRoutes(
  ctx: Pick<PluginContext, 'route'>,
  registry: Registry,
  transport: () => Transport | undefined = () => undefined,
): void {
  const listAnswers = new ListAnswers();
  const infoBytes = new InfoBytes();
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
      const workflows = registry.list();
      // Availability is asked per request (backends come and go); the body is only rebuilt when
      // what the caller would see changed: the workflow set, or an answer in this view.
      const availability = workflows.map(({ alias, graph }) => availabilityOf(current, alias, graph));
      let view = admin ? 'admin' : 'client';
      for (const a of availability) view += a === undefined ? '|-' : a.available ? '|1' : admin ? `|0${JSON.stringify(a.missing)}` : '|0';
      koa.set('Content-Type', JSON_TYPE);
      koa.body = listAnswers.get(registry.version, view, () =>
        workflows.map(({ alias, description, thumbnail }, i) => {
          const a = availability[i];
          if (!a) return { alias, description, thumbnail };
          return { alias, description, thumbnail, available: a.available, ...(admin && !a.available ? { missing: a.missing } : {}) };
        }),
      );
    },
  });

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
    handler: async (koa, { query: { workflow } }) => {
      const inputs = registry.describeJson ? await registry.describeJson(workflow) : await registry.describe(workflow);
      if (inputs === undefined) throw notFound(`no workflow named "${workflow}"`);
      // A serialised answer (reused while the registry reuses its description) is sent as it is.
      if (typeof inputs === 'string') koa.set('Content-Type', JSON_TYPE);
      koa.body = typeof inputs === 'string' ? infoBytes.of(workflow, inputs) : inputs;
    },
  });
}
