import { CLIENT_ID } from '../../contracts/schemas.js';
import { GENERATION_STATES } from '../../contracts/generation.js';
import type { JsonSchema } from '../../core/plugin.js';

export const historyQuerySchema: JsonSchema = {
  type: 'object',
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 100, default: 10, description: 'Page size, 1–100.' },
    offset: { type: 'integer', minimum: 0, default: 0, description: 'Rows to skip (newest first).' },
    clientId: { ...CLIENT_ID, description: 'Only this client’s generations.' },
    workflow: { type: 'string', minLength: 1, maxLength: 256, description: 'Only this workflow alias.' },
    status: { enum: [...GENERATION_STATES], description: 'Only generations in this state.' },
  },
};

export const historyItemSchema: JsonSchema = {
  type: 'object',
  required: ['id', 'timestamp', 'workflow', 'status', 'clientId'],
  properties: {
    id: { type: 'string' },
    timestamp: { type: 'string', format: 'date-time', description: 'When the bridge accepted the generation.' },
    workflow: { type: 'string' },
    status: { enum: [...GENERATION_STATES] },
    clientId: { type: 'string' },
    result_url: { type: ['string', 'null'], description: 'The first output (completed only).' },
    result_urls: { type: 'array', items: { type: 'string' }, description: 'Every output (completed only).' },
    error_message: { type: 'string', description: 'Why it failed or was interrupted.' },
  },
};

export const historyResponseSchema: JsonSchema = {
  type: 'object',
  required: ['history', 'total_count', 'page', 'page_size'],
  properties: {
    history: { type: 'array', items: historyItemSchema },
    total_count: { type: 'integer', minimum: 0 },
    page: { type: 'integer', minimum: 1, description: 'floor(offset / limit) + 1' },
    page_size: { type: 'integer', minimum: 1, description: 'The limit asked for.' },
  },
};

export const countResponseSchema: JsonSchema = {
  type: 'object',
  required: ['generation_count', 'by_status'],
  properties: {
    generation_count: { type: 'integer', minimum: 0, description: 'Every generation ever recorded (retention does not lower it).' },
    by_status: {
      type: 'object',
      properties: Object.fromEntries(GENERATION_STATES.map((s) => [s, { type: 'integer', minimum: 0 }])),
    },
  },
};
