import type { PluginContext } from '../../core/plugin.js';
import { notFound } from '../../core/errors.js';
import { ERROR_BODY } from '../../core/http/schemas.js';
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

export function mountWorkflowRoutes(
  ctx: Pick<PluginContext, 'route'>,
  registry: WorkflowRegistry,
  transport: () => Transport | undefined = () => undefined,
): void {
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
      koa.body = registry.list().map(({ alias, description, thumbnail, graph }) => {
        const availability = availabilityOf(current, alias, graph);
        if (!availability) return { alias, description, thumbnail };
        const { available, missing } = availability;
        return { alias, description, thumbnail, available, ...(admin && !available ? { missing } : {}) };
      });
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
    query: {
      type: 'object',
      required: ['workflow'],
      properties: { workflow: { type: 'string', minLength: 1, maxLength: 128, description: 'The workflow alias.' } },
    },
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
    handler: async (koa) => {
      const { workflow } = (koa.state as { query: { workflow: string } }).query;
      const inputs = await registry.describe(workflow);
      if (!inputs) throw notFound(`no workflow named "${workflow}"`);
      koa.body = inputs;
    },
  });
}
