import { Type, type Static } from '@sinclair/typebox';

/**
 * pollIntervalMs when the storage is shared and the operator did not set it. ComfyUI sends a prompt's
 * events only to the clientId that submitted it, and each instance of a fleet has its own: a prompt a
 * survivor adopts from a dead instance reports nothing to it, so polling is all that follows it; at
 * 30 s, kills a few seconds apart would outpace it.
 */
export const SHARED_POLL_INTERVAL_MS = 2_000;

// Defaults first: the schema's defaults and resolveOptions() (tests construct the transport directly) share them.
const DEFAULTS = {
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
};

const TAGS = { type: 'object', additionalProperties: { type: 'string', minLength: 1, maxLength: 64 } };
const tags = (description: string) => Type.Unsafe<Record<string, string>>({ ...TAGS, description });
const ms = (minimum: number, def: number, description?: string) => Type.Integer({ minimum, default: def, ...(description === undefined ? {} : { description }) });

const backendSchema = Type.Object(
  {
    /** Base URL of one ComfyUI server, e.g. http://127.0.0.1:8188 (a path prefix is kept). */
    url: Type.String({ pattern: '^https?://[^\\s]+$', description: 'Base URL of the ComfyUI server.' }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Name used in logs and status (defaults to host:port).' })),
    /** Tie-breaker between equally loaded backends: the higher weight is picked first. */
    weight: Type.Optional(Type.Number({ exclusiveMinimum: 0, default: 1, description: 'Preference between equally loaded backends.' })),
    /** Labels workflows can be pinned to (e.g. {gpu: "a100"}); see `pins`. */
    tags: Type.Optional(tags('Labels workflows can be pinned to (see pins), e.g. {"gpu": "a100"}.')),
    /** ComfyUI's output folder as this machine sees it (same host, or a shared mount): outputs are read there, not fetched with GET /view. */
    outputDir: Type.Optional(
      Type.String({ minLength: 1, description: "This backend's output folder as the bridge sees it (ComfyUI on the same host, or a shared mount): result files are read from there instead of fetched with GET /view (fetched over HTTP when a file is not there). A relative path is taken from the working directory, as dataDir is." }),
    ),
    /** The same for ComfyUI's temp folder (PreviewImage and other temporary outputs). */
    tempDir: Type.Optional(Type.String({ minLength: 1, description: "This backend's temp folder as the bridge sees it (outputs of type temp, e.g. PreviewImage), like outputDir." })),
  },
  { additionalProperties: false },
);

export const optionsSchema = Type.Object(
  {
    backends: Type.Array(backendSchema, { minItems: 1, default: DEFAULTS.backends, description: 'ComfyUI servers to use (COMFY_BRIDGE_COMFYUI_URLS fills this).' }),
    reconnect: Type.Object(
      {
        initialMs: ms(1, DEFAULTS.reconnect.initialMs),
        maxMs: ms(1, DEFAULTS.reconnect.maxMs),
        /** 0..1: each delay is moved by up to this fraction, so many bridges do not reconnect in step. */
        jitter: Type.Number({ minimum: 0, maximum: 1, default: DEFAULTS.reconnect.jitter }),
      },
      { additionalProperties: false, default: DEFAULTS.reconnect, description: 'Websocket reconnect backoff.' },
    ),
    /** No frame and no pong for this long → the socket is considered dead and is replaced. */
    silentTimeoutMs: ms(10, DEFAULTS.silentTimeoutMs, 'A socket with no frame and no pong for this long is replaced.'),
    pingIntervalMs: ms(10, DEFAULTS.pingIntervalMs, 'Websocket ping period.'),
    requestTimeoutMs: ms(10, DEFAULTS.requestTimeoutMs, 'Deadline of one HTTP call to ComfyUI.'),
    lostAfterMs: ms(10, DEFAULTS.lostAfterMs, 'How long a backend may stay down before its in-flight prompts are reported lost (their generations are then resubmitted once).'),
    /**
     * A prompt not started yet on a backend that refuses connections (its process is gone) moves this soon, when
     * another backend is up: it is reported `lost`, and deleted from the old backend's queue when that backend answers again.
     */
    moveQueuedAfterMs: ms(10, DEFAULTS.moveQueuedAfterMs, 'A prompt not started yet on a backend that refuses connections moves to a healthy backend after this long.'),
    // No schema default: the default depends on the storage (resolveOptions).
    pollIntervalMs: Type.Optional(
      Type.Integer({
        minimum: 10,
        description: `In-flight prompts without news for this long are checked against ComfyUI history and queue. Default ${DEFAULTS.pollIntervalMs} ms; ${SHARED_POLL_INTERVAL_MS} ms when the storage is shared by several instances (a fleet), where a prompt adopted from a dead instance gets no websocket events and is followed this way only.`,
      }),
    ),
    objectInfoTtlMs: ms(0, DEFAULTS.objectInfoTtlMs, "How long a node class's /object_info is reused (one cache for workflows and generations)."),
    capabilitiesRefreshMs: ms(10, DEFAULTS.capabilitiesRefreshMs, "How often each up backend's whole /object_info (node classes, model files) is read again; also read when it connects."),
    capabilitiesMinGapMs: ms(0, DEFAULTS.capabilitiesMinGapMs, "Least time between two reads of one backend's whole /object_info."),
    affinity: Type.Object(
      {
        /** Prefer the backend that last ran the same model files (no reload)… */
        enabled: Type.Boolean({ default: DEFAULTS.affinity.enabled }),
        /** …while its queue is at most this many prompts longer than the shortest capable queue. */
        maxQueueImbalance: Type.Integer({ minimum: 0, default: DEFAULTS.affinity.maxQueueImbalance, description: 'How many prompts longer than the shortest capable queue the warm backend may be.' }),
      },
      { additionalProperties: false, default: DEFAULTS.affinity, description: 'Send a generation to the backend that last ran the same model files, unless its queue is too much longer.' },
    ),
    /** Workflow alias → tags a backend must carry to run it, e.g. {"text-to-image": {gpu: "a100"}}. */
    pins: Type.Unsafe<Record<string, Record<string, string>>>({
      type: 'object',
      default: DEFAULTS.pins,
      description: 'Workflow alias → tags a backend must carry (backends[].tags) to run it.',
      additionalProperties: TAGS,
    }),
  },
  { additionalProperties: false },
);

export type BackendOptions = Static<typeof backendSchema>;
/** The options resolved (resolveOptions): pollIntervalMs, left unset in config, is filled from the storage kind. */
export type ComfyuiOptions = Static<typeof optionsSchema> & { pollIntervalMs: number };
export type AffinityOptions = ComfyuiOptions['affinity'];
export type ReconnectOptions = ComfyuiOptions['reconnect'];

export const DEFAULT_OPTIONS: ComfyuiOptions = Object.freeze(DEFAULTS);

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
