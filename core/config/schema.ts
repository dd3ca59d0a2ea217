import { isAbsolute, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { BootError } from '../errors.js';
import { compile, createAjv, describeErrors } from './ajv.js';
import { deepFreeze } from './objects.js';

const int = (minimum: number, def: number, description: string, maximum?: number) =>
  Type.Integer({ minimum, ...(maximum === undefined ? {} : { maximum }), default: def, description });
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The kernel's own configuration (plugins add theirs under `plugins.<name>`); the type comes from the schema. */
export const kernelSchema = Type.Object(
  {
    server: Type.Object(
      {
        host: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Interface to listen on.' }),
        port: int(0, 8288, 'TCP port; 0 picks a free one.', 65535),
        publicUrl: Type.Unsafe<string | null>({
          type: ['string', 'null'],
          pattern: '^https?://',
          default: null,
          description: 'Base of the URLs the bridge hands out (result URLs). Defaults to http://host:port.',
        }),
        bodyLimitBytes: int(1024, 1048576, 'Largest JSON body accepted.'),
        shutdownTimeoutMs: int(0, 10000, 'Deadline for open connections at shutdown.'),
        registerTimeoutMs: int(1, 10000, "Deadline for one plugin's register()."),
        headersTimeoutMs: int(1, 20000, 'A request whose headers have not all arrived after this is answered 408 and closed (slow-headers clients).'),
        requestTimeoutMs: int(0, 30000, 'A request that is not an upload (multipart) and has not sent its whole body after this is answered 408 and closed. 0: no limit.'),
        minUploadBytesPerSecond: int(0, 1024, 'An upload (multipart) that sends less than this per second, measured over each uploadRateWindowMs, is answered 408 and closed. 0: no limit.'),
        uploadRateWindowMs: int(100, 10000, 'The window over which minUploadBytesPerSecond is measured; a trickle is cut within two windows.'),
        maxConnections: int(
          0,
          4096,
          'Most open sockets (HTTP and websocket together); further connections are refused and a warning is logged. ' +
            'Keep it under the process file limit (ulimit -n): an upload holds a socket and a file. 0: no cap.',
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    log: Type.Object(
      {
        level: Type.Unsafe<(typeof LEVELS)[number]>({ enum: [...LEVELS], default: 'info', description: 'pino log level.' }),
        format: Type.Unsafe<'auto' | 'pretty' | 'json'>({
          enum: ['auto', 'pretty', 'json'],
          default: 'auto',
          description: 'pretty: human lines; json: one JSON object a line; auto: pretty when stdout is a terminal, JSON otherwise.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    dataDir: Type.String({ minLength: 1, default: 'data', description: 'Database, uploads and results (relative to the working directory, also in the embedded defaults).' }),
    plugins: Type.Unsafe<Record<string, Record<string, unknown> | false>>({
      type: 'object',
      default: {},
      description: 'Plugin name → options object (enables it) or false (disables it).',
      additionalProperties: { anyOf: [{ type: 'object' }, { const: false }] },
    }),
    pluginModules: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: 'Extra plugin modules to load (file paths relative to the config file, or package names).',
    }),
  },
  { additionalProperties: false },
);

export type BridgeConfig = Static<typeof kernelSchema>;
export type ServerConfig = BridgeConfig['server'];

/**
 * The kernel's side of a config: validated against its schema (defaults applied), paths resolved, frozen. Where the
 * object comes from (files, environment, flags) is the launcher's business: cli/config/load.ts.
 */
export function finishConfig(raw: Record<string, unknown>, paths: { cwd: string; configDir: string }): BridgeConfig {
  const config = structuredClone(raw);
  const validate = compile<BridgeConfig>(createAjv(), kernelSchema);
  if (!validate(config)) throw new BootError(`invalid config: ${describeErrors(validate.errors)}`);
  config.dataDir = resolve(paths.cwd, config.dataDir);
  config.pluginModules = config.pluginModules.map((m) => resolveModule(m, paths.configDir));
  return deepFreeze(config);
}

/** Paths (./x, ../x, /x) are relative to the config file; anything else is a package name. */
export const resolveModule = (specifier: string, configDir: string): string => (specifier.startsWith('.') || isAbsolute(specifier) ? resolve(configDir, specifier) : specifier);
