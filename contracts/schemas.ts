import { Type } from '@sinclair/typebox';

/** Schema fragments shared by routes of several plugins (SPEC §1); TypeBox, so handlers get their types. */
export const CLIENT_ID = Type.String({
  pattern: '^[A-Za-z0-9._:-]{1,128}$',
  description: '1–128 characters of [A-Za-z0-9._:-]; one AI request context (a UUID is recommended).',
});

export const GENERATION_ID = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z0-9._:-]+$',
  description: 'A generation id (gen_...).',
});

/** The status frame of a generation: what a websocket receives, /execution-info answers and a waiting generate returns (SPEC §2.1, §3). */
export const STATUS_FRAME = Object.freeze({
  type: 'object',
  required: ['status', 'details', 'data'],
  properties: {
    status: { enum: ['progress', 'closed', 'error'] },
    details: { type: 'string' },
    data: { type: 'object', description: 'id, workflow, state, percent, result_urls, error_message, timestamps…' },
  },
});
