/** The error body every refusal answers with (SPEC §1). */
export const ERROR_BODY = Object.freeze({
  title: 'Error',
  type: 'object',
  required: ['error', 'detail'],
  properties: {
    error: { type: 'string', description: 'Stable snake_case code.' },
    detail: { type: 'string', description: 'A human sentence.' },
  },
});
