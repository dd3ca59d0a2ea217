import type { WorkflowRegistry } from '../../plugins/workflows/api.js';
import { CLIENT_ID } from '../../contracts/schemas.js';
import { WEBHOOK_REQUEST_SCHEMA } from '../../contracts/outbox.js';
import { inputsSchema } from './input-validator.js';

/**
 * The request body as the OpenAPI document shows it: one schema per registered workflow (oneOf by
 * alias), built by the same inputsSchema() that validates requests, with the workflow's defaults as
 * the example — so a reader sees exactly which keys each alias takes.
 */
export async function generateBodyByWorkflow(workflows: WorkflowRegistry): Promise<Record<string, unknown>> {
  const variants = [];
  for (const workflow of workflows.list()) {
    const inputs = (await workflows.describe(workflow.alias)) ?? workflow.inputs;
    const flat = inputsSchema(inputs) as { properties: Record<string, Record<string, unknown>> };
    const properties: Record<string, unknown> = {
      workflow: { const: workflow.alias },
      clientId: CLIENT_ID,
      wait: { type: 'boolean' },
      webhook: WEBHOOK_REQUEST_SCHEMA,
    };
    for (const [key, property] of Object.entries(flat.properties)) {
      const input = inputs[key]!;
      properties[key] = { ...property, title: input.title, default: input.default, ...(input.description ? { description: input.description } : {}) };
    }
    variants.push({
      title: workflow.alias,
      description: workflow.description,
      type: 'object',
      required: ['workflow'],
      additionalProperties: false,
      properties,
      examples: [{ workflow: workflow.alias, ...Object.fromEntries(Object.entries(inputs).map(([key, input]) => [key, input.default])) }],
    });
  }
  return variants.length ? { oneOf: variants } : { type: 'object', required: ['workflow'], properties: { workflow: { type: 'string' } } };
}
