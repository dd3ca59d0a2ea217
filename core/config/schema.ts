import type { JsonSchema } from '../plugin.js';

/** The kernel's own configuration (plugins add theirs under `plugins.<name>`). */
export interface ServerConfig {
  host: string;
  /** 0 picks a free port (the bound one is logged). */
  port: number;
  /** Base of URLs the bridge hands out (result URLs); defaults to http://host:port. */
  publicUrl: string | null;
  /** Largest JSON body accepted, in bytes. */
  bodyLimitBytes: number;
  /** How long shutdown waits for open connections before cutting them. */
  shutdownTimeoutMs: number;
  /** How long one plugin's register() may take. */
  registerTimeoutMs: number;
  /** A request's headers must arrive within this. */
  headersTimeoutMs: number;
  /** A request that is not an upload must have sent its whole body within this (0: no limit). */
  requestTimeoutMs: number;
  /** An upload slower than this over a window of uploadRateWindowMs is cut (0: no limit). */
  minUploadBytesPerSecond: number;
  uploadRateWindowMs: number;
  /** Most open sockets (HTTP and websocket); 0: no cap. */
  maxConnections: number;
}

export interface BridgeConfig {
  server: ServerConfig;
  log: {
    level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
    /** pretty: human lines; json: one JSON object a line; auto: pretty when stdout is a terminal. */
    format: 'auto' | 'pretty' | 'json';
  };
  /** Database, uploads and results live here; resolved to an absolute path. */
  dataDir: string;
  /** Plugin name → its options (an object enables it, false disables it). */
  plugins: Record<string, Record<string, unknown> | false>;
  /** Extra plugin modules (paths or package names) whose default export is a plugin manifest. */
  pluginModules: string[];
}

export const kernelSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['server', 'log', 'dataDir', 'plugins', 'pluginModules'],
  properties: {
    server: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { type: 'string', minLength: 1, default: '127.0.0.1', description: 'Interface to listen on.' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 8288, description: 'TCP port; 0 picks a free one.' },
        publicUrl: {
          type: ['string', 'null'],
          pattern: '^https?://',
          default: null,
          description: 'Base of the URLs the bridge hands out (result URLs). Defaults to http://host:port.',
        },
        bodyLimitBytes: { type: 'integer', minimum: 1024, default: 1048576, description: 'Largest JSON body accepted.' },
        shutdownTimeoutMs: { type: 'integer', minimum: 0, default: 10000, description: 'Deadline for open connections at shutdown.' },
        registerTimeoutMs: { type: 'integer', minimum: 1, default: 10000, description: "Deadline for one plugin's register()." },
        headersTimeoutMs: {
          type: 'integer',
          minimum: 1,
          default: 20000,
          description: 'A request whose headers have not all arrived after this is answered 408 and closed (slow-headers clients).',
        },
        requestTimeoutMs: {
          type: 'integer',
          minimum: 0,
          default: 30000,
          description: 'A request that is not an upload (multipart) and has not sent its whole body after this is answered 408 and closed. 0: no limit.',
        },
        minUploadBytesPerSecond: {
          type: 'integer',
          minimum: 0,
          default: 1024,
          description: 'An upload (multipart) that sends less than this per second, measured over each uploadRateWindowMs, is answered 408 and closed. 0: no limit.',
        },
        uploadRateWindowMs: {
          type: 'integer',
          minimum: 100,
          default: 10000,
          description: 'The window over which minUploadBytesPerSecond is measured; a trickle is cut within two windows.',
        },
        maxConnections: {
          type: 'integer',
          minimum: 0,
          default: 4096,
          description:
            'Most open sockets (HTTP and websocket together); further connections are refused and a warning is logged. ' +
            'Keep it under the process file limit (ulimit -n): an upload holds a socket and a file. 0: no cap.',
        },
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        level: {
          enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
          default: 'info',
          description: 'pino log level.',
        },
        format: {
          enum: ['auto', 'pretty', 'json'],
          default: 'auto',
          description: 'pretty: human lines; json: one JSON object a line; auto: pretty when stdout is a terminal, JSON otherwise.',
        },
      },
    },
    dataDir: { type: 'string', minLength: 1, default: 'data', description: 'Database, uploads and results (relative to the working directory, also in the embedded defaults).' },
    plugins: {
      type: 'object',
      default: {},
      description: 'Plugin name → options object (enables it) or false (disables it).',
      additionalProperties: { anyOf: [{ type: 'object' }, { const: false }] },
    },
    pluginModules: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      default: [],
      description: 'Extra plugin modules to load (file paths relative to the config file, or package names).',
    },
  },
};
