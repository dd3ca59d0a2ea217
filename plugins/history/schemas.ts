import { Type } from '@sinclair/typebox';
import { CLIENT_ID } from '../../contracts/schemas.js';
import { GENERATION_STATES, type GenerationState } from '../../contracts/generation.js';
import type { JsonSchema } from '../../core/plugin.js';

/** The page a query without limit or offset gets (the schema's defaults, which ajv applies). */
export const HISTORY_PAGE = { limit: 10, offset: 0 };

/** Optional keys, defaults included, so OpenAPI lists no query parameter as required. */
export const historyQuerySchema = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: HISTORY_PAGE.limit, description: 'Page size, 1–100.' })),
  offset: Type.Optional(Type.Integer({ minimum: 0, default: HISTORY_PAGE.offset, description: 'Rows to skip (newest first).' })),
  clientId: Type.Optional(Type.Unsafe<string>({ ...CLIENT_ID, description: 'Only this client’s generations.' })),
  workflow: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'Only this workflow alias.' })),
  status: Type.Optional(Type.Unsafe<GenerationState>({ enum: [...GENERATION_STATES], description: 'Only generations in this state.' })),
});

export const historyItemSchema: JsonSchema = {
  title: 'HistoryItem',
  type: 'object',
  additionalProperties: false,
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

/** A real page (GET /history?limit=2): one completed generation, one failed. */
export const HISTORY_EXAMPLE = {
  history: [
    {
      id: 'gen_2ZBPgLfoHtq_Kpwponr5Vk0v',
      timestamp: '2026-12-01T17:46:29.778Z',
      workflow: 'text-to-image',
      status: 'completed',
      clientId: '3f1c9a2e-5b7d-4e61-9a0c-2d8e4f6b1a73',
      result_url: 'http://127.0.0.1:8288/results/gen_2ZBPgLfoHtq_Kpwponr5Vk0v/ComfyUI_00001_.png',
      result_urls: ['http://127.0.0.1:8288/results/gen_2ZBPgLfoHtq_Kpwponr5Vk0v/ComfyUI_00001_.png'],
    },
    {
      id: 'gen_vKJuGRRnC7RaeT0qwB-qKw9x',
      timestamp: '2026-12-01T17:40:02.113Z',
      workflow: 'text-to-image',
      status: 'failed',
      clientId: '3f1c9a2e-5b7d-4e61-9a0c-2d8e4f6b1a73',
      error_message: 'CheckpointLoaderSimple: ckpt_name: v1-5-pruned-emaonly.safetensors is not in the list of models',
    },
  ],
  total_count: 2,
  page: 1,
  page_size: 2,
};
