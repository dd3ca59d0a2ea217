import type { JsonSchema } from '../../core/plugin.js';

export interface BackendOptions {
  /** Base URL of one ComfyUI server, e.g. http://127.0.0.1:8188 (a path prefix is kept). */
  url: string;
  name?: string;
  /** Tie-breaker between equally loaded backends: the higher weight is picked first. */
  weight?: number;
}

export interface ReconnectOptions {
  initialMs: number;
  maxMs: number;
  /** 0..1: each delay is moved by up to this fraction, so many bridges do not reconnect in step. */
  jitter: number;
}

export interface ComfyuiOptions {
  backends: BackendOptions[];
  reconnect: ReconnectOptions;
  /** No frame and no pong for this long → the socket is considered dead and is replaced. */
  silentTimeoutMs: number;
  pingIntervalMs: number;
  requestTimeoutMs: number;
  /** How long a backend may stay down before its in-flight prompts are reported `lost` (and resubmitted by their owner). */
  lostAfterMs: number;
  /**
   * A prompt not started yet on a backend that refuses connections (its process is gone) moves this
   * soon, when another backend is up: it is reported `lost`, and deleted from the old backend's queue
   * first thing when that backend answers again.
   */
  moveQueuedAfterMs: number;
  /** In-flight prompts without news for this long are checked against /history and /queue. */
  pollIntervalMs: number;
  /** How long a node class's /object_info is reused before it is asked again. */
  objectInfoTtlMs: number;
}

export const DEFAULT_OPTIONS: ComfyuiOptions = Object.freeze({
  backends: [{ url: 'http://127.0.0.1:8188' }],
  reconnect: { initialMs: 500, maxMs: 30_000, jitter: 0.2 },
  // A frozen ComfyUI (SIGSTOP, blackholed) is down within silentTimeoutMs + one ping tick (< 5 s);
  // aiohttp answers pings from its event loop, which a running prompt (another thread) does not block.
  silentTimeoutMs: 3_500,
  pingIntervalMs: 1_000,
  requestTimeoutMs: 30_000,
  lostAfterMs: 25_000,
  moveQueuedAfterMs: 2_000,
  pollIntervalMs: 30_000,
  objectInfoTtlMs: 60_000,
});

export const optionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    backends: {
      type: 'array',
      minItems: 1,
      default: DEFAULT_OPTIONS.backends,
      description: 'ComfyUI servers to use (COMFY_BRIDGE_COMFYUI_URLS fills this).',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['url'],
        properties: {
          url: { type: 'string', pattern: '^https?://[^\\s]+$', description: 'Base URL of the ComfyUI server.' },
          name: { type: 'string', minLength: 1, maxLength: 64, description: 'Name used in logs and status (defaults to host:port).' },
          weight: { type: 'number', exclusiveMinimum: 0, default: 1, description: 'Preference between equally loaded backends.' },
        },
      },
    },
    reconnect: {
      type: 'object',
      additionalProperties: false,
      default: DEFAULT_OPTIONS.reconnect,
      description: 'Websocket reconnect backoff.',
      properties: {
        initialMs: { type: 'integer', minimum: 1, default: DEFAULT_OPTIONS.reconnect.initialMs },
        maxMs: { type: 'integer', minimum: 1, default: DEFAULT_OPTIONS.reconnect.maxMs },
        jitter: { type: 'number', minimum: 0, maximum: 1, default: DEFAULT_OPTIONS.reconnect.jitter },
      },
    },
    silentTimeoutMs: {
      type: 'integer',
      minimum: 10,
      default: DEFAULT_OPTIONS.silentTimeoutMs,
      description: 'A socket with no frame and no pong for this long is replaced.',
    },
    pingIntervalMs: { type: 'integer', minimum: 10, default: DEFAULT_OPTIONS.pingIntervalMs, description: 'Websocket ping period.' },
    requestTimeoutMs: { type: 'integer', minimum: 10, default: DEFAULT_OPTIONS.requestTimeoutMs, description: 'Deadline of one HTTP call to ComfyUI.' },
    lostAfterMs: {
      type: 'integer',
      minimum: 10,
      default: DEFAULT_OPTIONS.lostAfterMs,
      description: 'How long a backend may stay down before its in-flight prompts are reported lost (their generations are then resubmitted once).',
    },
    moveQueuedAfterMs: {
      type: 'integer',
      minimum: 10,
      default: DEFAULT_OPTIONS.moveQueuedAfterMs,
      description: 'A prompt not started yet on a backend that refuses connections moves to a healthy backend after this long.',
    },
    pollIntervalMs: {
      type: 'integer',
      minimum: 10,
      default: DEFAULT_OPTIONS.pollIntervalMs,
      description: 'In-flight prompts without news for this long are checked against ComfyUI history and queue.',
    },
    objectInfoTtlMs: {
      type: 'integer',
      minimum: 0,
      default: DEFAULT_OPTIONS.objectInfoTtlMs,
      description: "How long a node class's /object_info is reused (one cache for workflows and generations).",
    },
  },
};

/** Fills what the caller left out (the kernel applies schema defaults; direct construction in tests may not). */
export function resolveOptions(partial: Partial<ComfyuiOptions> = {}): ComfyuiOptions {
  return {
    ...DEFAULT_OPTIONS,
    ...partial,
    backends: partial.backends && partial.backends.length > 0 ? partial.backends : DEFAULT_OPTIONS.backends,
    reconnect: { ...DEFAULT_OPTIONS.reconnect, ...partial.reconnect },
  };
}
