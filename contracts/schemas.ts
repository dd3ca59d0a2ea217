import { Type } from '@sinclair/typebox';
import { GENERATION_STATES } from './generation.js';

/** Schema fragments shared by routes of several plugins (SPEC §1); TypeBox, so handlers get their types. */
/** The error body every refusal answers with (SPEC §1; the kernel writes it: core/http/errors.ts). */
export const ERROR_BODY = Object.freeze({
  title: 'Error',
  type: 'object',
  required: ['error', 'detail'],
  properties: {
    error: { type: 'string', description: 'Stable snake_case code.' },
    detail: { type: 'string', description: 'A human sentence.' },
  },
});

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

const NULLABLE_TIME = { type: ['string', 'null'], format: 'date-time' };

/** `data` of a generation frame (plugins/generations/frame.ts builds it): everything a client shows. */
export const FRAME_DATA = Object.freeze({
  title: 'FrameData',
  type: 'object',
  required: ['id', 'workflow', 'state', 'position', 'percent', 'node', 'step', 'max_steps', 'result_urls', 'error_message', 'queued_at', 'started_at', 'finished_at'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', description: 'The generation id (gen_...).' },
    workflow: { type: 'string', description: 'The workflow alias.' },
    state: { enum: [...GENERATION_STATES] },
    position: { type: ['integer', 'null'], minimum: 0, description: 'Prompts ahead on its backend while queued.' },
    percent: { type: 'number', minimum: 0, maximum: 100, description: 'Overall completion of the graph.' },
    node: { type: ['string', 'null'], description: 'The node running now.' },
    step: { type: ['number', 'null'], minimum: 0, description: 'Progress value of the running node (a sampler step; ComfyUI may report fractions).' },
    max_steps: { type: ['number', 'null'], minimum: 0 },
    result_urls: { type: 'array', items: { type: 'string', format: 'uri' }, description: 'The output files (completed only; else empty).' },
    error_message: { type: ['string', 'null'], description: 'Why it failed or was interrupted.' },
    queued_at: { type: 'string', format: 'date-time' },
    started_at: NULLABLE_TIME,
    finished_at: NULLABLE_TIME,
  },
});

/** The status frame of a generation: what /execution-info answers and a waiting generate returns (SPEC §2.1, §3). */
export const STATUS_FRAME = Object.freeze({
  title: 'StatusFrame',
  type: 'object',
  required: ['status', 'details', 'data'],
  additionalProperties: false,
  properties: {
    status: { enum: ['progress', 'closed', 'error'], description: 'progress while queued or running; closed once completed; error once failed or interrupted.' },
    details: { type: 'string', description: 'The percent ("42.50%"), "Execution is done", or the reason it ended.' },
    data: FRAME_DATA,
  },
});

/**
 * A websocket text frame (SPEC §2.1). Per-socket frames (`connected`, `listening`, and the socket's own
 * `error`/`closed` at an idle time out or shutdown) have neither `seq` nor `data`. Generation frames
 * carry `seq` (increasing per clientId; resume with `&since=`) and `data`; the `closed` after an `error`
 * carries only `data.id` and `data.state`. A `snapshot` frame repeats the last seq: the state at join.
 */
export const SOCKET_FRAME = Object.freeze({
  title: 'SocketFrame',
  type: 'object',
  required: ['status', 'details'],
  additionalProperties: false,
  properties: {
    status: { enum: ['connected', 'listening', 'progress', 'closed', 'error'] },
    details: { type: 'string' },
    seq: { type: 'integer', minimum: 1, description: 'Generation frames only: increasing per clientId.' },
    snapshot: { type: 'boolean', description: 'The current state of a generation already under way when the socket opened.' },
    data: { ...FRAME_DATA, title: 'SocketFrameData', required: ['id', 'state'] },
  },
});

/** A real completed generation's frame (the example of /execution-info and of a waiting generate). */
export const STATUS_FRAME_EXAMPLE = Object.freeze({
  status: 'closed',
  details: 'Execution is done',
  data: {
    id: 'gen_2ZBPgLfoHtq_Kpwponr5Vk0v',
    workflow: 'text-to-image',
    state: 'completed',
    position: 0,
    percent: 100,
    node: null,
    step: null,
    max_steps: null,
    result_urls: ['http://127.0.0.1:8288/results/gen_2ZBPgLfoHtq_Kpwponr5Vk0v/ComfyUI_00001_.png'],
    error_message: null,
    queued_at: '2026-12-01T17:46:29.778Z',
    started_at: '2026-12-01T17:46:29.858Z',
    finished_at: '2026-12-01T17:46:33.884Z',
  },
});
