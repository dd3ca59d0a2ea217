import type { JsonSchema } from '../../core/plugin.js';

export interface BackendOptions {
  /** Base URL of one ComfyUI server, e.g. http://127.0.0.1:8188 (a path prefix is kept). */
  url: string;
  name?: string;
  /** Tie-breaker between equally loaded backends: the higher weight is picked first. */
  weight?: number;
  /** Labels workflows can be pinned to (e.g. {gpu: "a100"}); see `pins`. */
  tags?: Record<string, string>;
}

export interface AffinityOptions {
  /** Prefer the backend that last ran the same model files (no reload). */
  enabled: boolean;
  /** …while its queue is at most this many prompts longer than the shortest capable queue. */
  maxQueueImbalance: number;
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
  /**
   * In-flight prompts without news for this long are checked against /history and /queue. Unset, it is
   * 30 s, or SHARED_POLL_INTERVAL_MS on a shared store (resolveOptions).
   */
  pollIntervalMs: number;
  /** How long a node class's /object_info is reused before it is asked again. */
  objectInfoTtlMs: number;
  /** How often every up backend's whole /object_info is read again (node classes, model files). */
  capabilitiesRefreshMs: number;
  /** Never read one backend's whole /object_info more often than this (a miss asks again, throttled). */
  capabilitiesMinGapMs: number;
  affinity: AffinityOptions;
  /** Workflow alias → tags a backend must carry to run it, e.g. {"text-to-image": {gpu: "a100"}}. */
  pins: Record<string, Record<string, string>>;
}

/**
 * pollIntervalMs when the storage is shared and the operator did not set it. ComfyUI sends a prompt's
 * events only to the clientId that submitted it, and each instance of a fleet has its own: a prompt a
 * survivor adopts from a dead instance reports nothing to it, so polling is all that follows it; at
 * 30 s, kills a few seconds apart would outpace it.
 */
export const SHARED_POLL_INTERVAL_MS = 2_000;

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
  capabilitiesRefreshMs: 60_000,
  capabilitiesMinGapMs: 2_000,
  affinity: { enabled: true, maxQueueImbalance: 2 },
  pins: {},
});

const TAGS_SCHEMA = { type: 'object', additionalProperties: { type: 'string', minLength: 1, maxLength: 64 } };

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
          tags: { ...TAGS_SCHEMA, description: 'Labels workflows can be pinned to (see pins), e.g. {"gpu": "a100"}.' },
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
    // No schema default: the default depends on the storage (resolveOptions).
    pollIntervalMs: {
      type: 'integer',
      minimum: 10,
      description: `In-flight prompts without news for this long are checked against ComfyUI history and queue. Default ${DEFAULT_OPTIONS.pollIntervalMs} ms; ${SHARED_POLL_INTERVAL_MS} ms when the storage is shared by several instances (a fleet), where a prompt adopted from a dead instance gets no websocket events and is followed this way only.`,
    },
    objectInfoTtlMs: {
      type: 'integer',
      minimum: 0,
      default: DEFAULT_OPTIONS.objectInfoTtlMs,
      description: "How long a node class's /object_info is reused (one cache for workflows and generations).",
    },
    capabilitiesRefreshMs: {
      type: 'integer',
      minimum: 10,
      default: DEFAULT_OPTIONS.capabilitiesRefreshMs,
      description: "How often each up backend's whole /object_info (node classes, model files) is read again; also read when it connects.",
    },
    capabilitiesMinGapMs: {
      type: 'integer',
      minimum: 0,
      default: DEFAULT_OPTIONS.capabilitiesMinGapMs,
      description: "Least time between two reads of one backend's whole /object_info.",
    },
    affinity: {
      type: 'object',
      additionalProperties: false,
      default: DEFAULT_OPTIONS.affinity,
      description: 'Send a generation to the backend that last ran the same model files, unless its queue is too much longer.',
      properties: {
        enabled: { type: 'boolean', default: DEFAULT_OPTIONS.affinity.enabled },
        maxQueueImbalance: { type: 'integer', minimum: 0, default: DEFAULT_OPTIONS.affinity.maxQueueImbalance, description: 'How many prompts longer than the shortest capable queue the warm backend may be.' },
      },
    },
    pins: {
      type: 'object',
      default: DEFAULT_OPTIONS.pins,
      description: 'Workflow alias → tags a backend must carry (backends[].tags) to run it.',
      additionalProperties: TAGS_SCHEMA,
    },
  },
};


/**
 * Fills what the caller left out (the kernel applies schema defaults; direct construction in tests may not).
 * `shared`: the storage is shared by several instances (Storage.shared), which shortens the default poll.
 */
export function resolveOptions(partial: Partial<ComfyuiOptions> = {}, context: { shared?: boolean } = {}): ComfyuiOptions {
  return {
    ...DEFAULT_OPTIONS,
    ...partial,
    pollIntervalMs: partial.pollIntervalMs ?? (context.shared === true ? SHARED_POLL_INTERVAL_MS : DEFAULT_OPTIONS.pollIntervalMs),
    backends: partial.backends && partial.backends.length > 0 ? partial.backends : DEFAULT_OPTIONS.backends,
    reconnect: { ...DEFAULT_OPTIONS.reconnect, ...partial.reconnect },
    affinity: { ...DEFAULT_OPTIONS.affinity, ...partial.affinity },
    pins: partial.pins ?? DEFAULT_OPTIONS.pins,
  };
}
