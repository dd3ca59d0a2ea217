import { parseArgs } from 'node:util';
import { BootError } from '../errors.js';
import { setPath } from '../config/env.js';

export interface ParsedCommand {
  command: string[];
  configFile: string | undefined;
  /** Config overlay from flags: the highest-precedence layer. */
  flags: Record<string, unknown>;
  force: boolean;
  help: boolean;
}

const FLAG_PATHS: Record<string, string[]> = {
  host: ['server', 'host'],
  port: ['server', 'port'],
  'public-url': ['server', 'publicUrl'],
  'data-dir': ['dataDir'],
  'log-level': ['log', 'level'],
  'workflows-dir': ['plugins', 'workflows', 'dir'],
};

export function parseCommandLine(argv: string[]): ParsedCommand {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        host: { type: 'string' },
        port: { type: 'string' },
        'public-url': { type: 'string' },
        'data-dir': { type: 'string' },
        'log-level': { type: 'string' },
        'workflows-dir': { type: 'string' },
        comfyui: { type: 'string' },
        force: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new BootError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const flags: Record<string, unknown> = {};
  for (const [flag, path] of Object.entries(FLAG_PATHS)) {
    const value = values[flag as keyof typeof values];
    if (typeof value !== 'string') continue;
    if (flag === 'port' && !/^\d+$/.test(value)) throw new BootError(`--port "${value}" is not a whole number`);
    setPath(flags, path, flag === 'port' ? Number(value) : value);
  }
  if (values.comfyui) {
    setPath(flags, ['plugins', 'comfyui', 'backends'], values.comfyui.split(',').filter(Boolean).map((url) => ({ url: url.trim() })));
  }
  return { command: positionals, configFile: values.config, flags, force: values.force ?? false, help: values.help ?? false };
}

export const USAGE = `comfy-bridge — a simple, safe API in front of ComfyUI

Usage:
  comfy-bridge serve [--config file] [flags]   start the server (default config: config/default.yaml)
  comfy-bridge config check [--config file]   validate and print the effective config (secrets redacted)
  comfy-bridge init [--force]                  write a commented starter config to config/local.yaml
  comfy-bridge openapi [--config file]         print the OpenAPI document of the configured server

Flags (override the config file and COMFY_BRIDGE_* variables):
  --host H  --port N  --public-url URL  --data-dir DIR  --log-level LEVEL
  --workflows-dir DIR  --comfyui URL[,URL...]
`;
