import type { PluginContext } from '../../core/plugin.js';
import { notFound } from '../../core/errors.js';
import { ERROR_BODY } from '../../core/http/schemas.js';
import type { Workflow, WorkflowRegistry } from '../../plugins/workflows/api.js';

const listItemSchema = {
  title: 'WorkflowSummary',
  type: 'object',
  required: ['alias', 'description', 'thumbnail'],
  properties: {
    alias: { type: 'string' },
    description: { type: 'string' },
    thumbnail: { type: ['string', 'null'], description: 'URL of a preview image, or null.' },
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

export function mountWorkflowRoutes(ctx: Pick<PluginContext, 'route'>, registry: WorkflowRegistry): void {
  // /workflow-list is a hot read whose answer changes only at a reload, which replaces the Workflow
  // objects: the serialised answer is reused while list() returns the very same objects.
  let cached: { from: Workflow[]; json: string } | undefined;
  const listJson = (workflows: Workflow[]): string => {
    if (cached && cached.from.length === workflows.length && cached.from.every((w, i) => w === workflows[i])) return cached.json;
    const json = JSON.stringify(workflows.map(({ alias, description, thumbnail }) => ({ alias, description, thumbnail })));
    cached = { from: workflows, json };
    return json;
  };
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
        example: [{ alias: 'text-to-image', description: 'Text to image with Stable Diffusion 1.5.', thumbnail: null }],
      },
    },
    handler: (koa) => {
      koa.type = 'application/json';
      koa.body = listJson(registry.list());
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
