/** Schema fragments shared by routes (SPEC §1). */
export const CLIENT_ID = Object.freeze({
  type: 'string',
  pattern: '^[A-Za-z0-9._:-]{1,128}$',
  description: '1–128 characters of [A-Za-z0-9._:-]; one AI request context (a UUID is recommended).',
});

export const ERROR_BODY = Object.freeze({
  type: 'object',
  required: ['error', 'detail'],
  properties: {
    error: { type: 'string', description: 'Stable snake_case code.' },
    detail: { type: 'string', description: 'A human sentence.' },
  },
});
