import type { Setting } from './config/env.js';

/** What each command does and the options it takes; `comfy-bridge <command> --help` prints one of these. */
export const COMMANDS: Record<string, { usage: string; summary: string; details: string; configFlags: boolean }> = {
  serve: {
    usage: 'comfy-bridge serve [--config FILE] [flags]',
    summary: 'start the server',
    details: 'Starts the server on the embedded defaults (config/default.yaml of the package), with FILE layered over them\nplugin by plugin. SIGINT/SIGTERM close it gracefully.',
    configFlags: true,
  },
  'config check': {
    usage: 'comfy-bridge config check [--config FILE] [--json] [flags]',
    summary: 'validate the config and show where each value came from',
    details: 'Prints every effective value with its origin (default, file, env, flag); secrets are redacted.\n--json prints the effective config as JSON instead.',
    configFlags: true,
  },
  init: {
    usage: 'comfy-bridge init [--force]',
    summary: 'write a commented starter config to config/local.yaml',
    details: 'Refuses to overwrite an existing file unless --force is given.',
    configFlags: false,
  },
  openapi: {
    usage: 'comfy-bridge openapi [--config FILE] [flags]',
    summary: 'print the OpenAPI document of the configured server',
    details: 'Serves the configured plugins on a throwaway port and data dir and prints their /openapi.json.',
    configFlags: true,
  },
};

const column = (rows: [string, string][]): string => {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`).join('\n');
};

export function usage(): string {
  return `comfy-bridge — a simple, safe API in front of ComfyUI

Usage:
${column(Object.values(COMMANDS).map((c) => [c.usage, c.summary]))}

  comfy-bridge <command> --help   options of one command
  comfy-bridge --version          print the version

Config layers, lowest first: embedded defaults < --config FILE < COMFY_BRIDGE_* variables < flags.
`;
}

/** One command's help; plugin flags are listed when the caller has read the manifests. */
export function commandHelp(name: string, flags: readonly Setting[]): string {
  const command = COMMANDS[name]!;
  let out = `${command.usage}\n\n${command.summary}.\n${command.details}\n`;
  if (command.configFlags) {
    const rows = flags.map((f): [string, string] => [`--${f.name} ${f.value}`, f.owner === 'kernel' ? f.description : `${f.description} (plugin ${f.owner})`]);
    out += `\nOptions:\n${column([['-c, --config FILE', 'config file layered over the embedded defaults'], ...rows, ['-h, --help', 'this help']])}\n`;
  }
  return out;
}
