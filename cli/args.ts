import { UsageError } from './usage-error.js';

export interface ParsedCommand {
  command: string[];
  configFile: string | undefined;
  /** Raw `--name value` flags for config keys; the kernel's and the plugins' declarations parse them. */
  cliFlags: Record<string, string>;
  force: boolean;
  help: boolean;
  version: boolean;
  json: boolean;
}

const BOOLEANS: Record<string, 'force' | 'help' | 'version' | 'json'> = {
  force: 'force',
  help: 'help',
  h: 'help',
  version: 'version',
  v: 'version',
  json: 'json',
};

/**
 * A tokenizer rather than util.parseArgs: which `--name value` flags exist is known only once the plugins'
 * manifests are read, and help or --version must answer before anything is loaded.
 */
export function parseCommandLine(argv: readonly string[]): ParsedCommand {
  const parsed: ParsedCommand = { command: [], configFile: undefined, cliFlags: {}, force: false, help: false, version: false, json: false };
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--') {
      parsed.command.push(...argv.slice(i + 1));
      break;
    }
    const match = /^(?:--([a-z][a-z0-9-]*)|-([a-zA-Z]))(?:=(.*))?$/s.exec(token);
    if (!match) {
      if (token.startsWith('-')) throw new UsageError(`unknown option ${token}`);
      parsed.command.push(token);
      continue;
    }
    const name = (match[1] ?? match[2])!;
    const inline = match[3];
    const boolean = BOOLEANS[name];
    if (boolean) {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      parsed[boolean] = true;
      continue;
    }
    if (match[2] !== undefined && name !== 'c') throw new UsageError(`unknown option -${name}`);
    const value = inline ?? argv[i + 1];
    if (value === undefined || (inline === undefined && value.startsWith('--'))) throw new UsageError(`--${name} needs a value`);
    if (inline === undefined) i++;
    if (name === 'c' || name === 'config') parsed.configFile = value;
    else parsed.cliFlags[name] = value;
  }
  return parsed;
}
