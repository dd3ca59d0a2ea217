import { BootError } from '../core/errors.js';
import { UsageError } from './usage-error.js';
import { parseCommandLine, type ParsedCommand } from './args.js';
import { COMMANDS, commandHelp, usage } from './help.js';

/**
 * Entry point of bin/comfy-bridge.js. Exit codes: 0 ok, 1 refused to start, 2 usage (on stderr).
 * Only the modules a command needs are imported, so --help and --version answer without loading the server.
 */
export async function main(argv: string[]): Promise<number> {
  let parsed: ParsedCommand;
  try {
    parsed = parseCommandLine(argv);
  } catch (error) {
    return usageError((error as Error).message);
  }
  const [command, sub] = parsed.command;
  if (parsed.version) {
    const { PACKAGE_ROOT } = await import('./config/package-root.js');
    const { readFileSync } = await import('node:fs');
    const { version } = JSON.parse(readFileSync(`${PACKAGE_ROOT}/package.json`, 'utf8')) as { version: string };
    process.stdout.write(`${version}\n`);
    return 0;
  }
  if (command === 'help' && sub !== undefined) {
    // `comfy-bridge help serve` = `comfy-bridge serve --help`
    return main([...parsed.command.slice(1), '--help']);
  }
  if (command === 'help' || (parsed.help && command === undefined)) {
    process.stdout.write(usage());
    return 0;
  }
  if (command === undefined) return usageError('no command given');
  const name = command === 'config' ? `config ${sub ?? ''}`.trim() : command;
  if (!COMMANDS[name]) return usageError(`unknown command "${parsed.command.join(' ')}"`);
  try {
    if (parsed.help) return await printHelp(name, parsed);
    if (name === 'serve') return await (await import('./serve.js')).serve(parsed);
    if (name === 'config check') return await (await import('./check.js')).checkConfig(parsed);
    if (name === 'init') return await (await import('./init.js')).writeStarterConfig(parsed.force);
    return await (await import('./openapi.js')).printOpenApi(parsed);
  } catch (error) {
    if (error instanceof UsageError) return usageError(error.message);
    if (error instanceof BootError) {
      process.stderr.write(`comfy-bridge: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

function usageError(message: string): number {
  process.stderr.write(`comfy-bridge: ${message}\n\n${usage()}`);
  return 2;
}

async function printHelp(name: string, parsed: ParsedCommand): Promise<number> {
  const flags = COMMANDS[name]!.configFlags ? await (await import('./help-flags.js')).helpFlags(parsed) : [];
  process.stdout.write(commandHelp(name, flags));
  return 0;
}
