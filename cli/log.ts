import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import type { BridgeConfig } from '../core/config/schema.js';
import { createLogger } from '../core/log.js';
import { SafeDestination } from '../lib/log-destination.js';

/**
 * The server process's logger: human lines when stdout is a terminal (or format "pretty"), one JSON object a
 * line otherwise (or "json"), written through a destination that never blocks (lib/log-destination.ts).
 */
export function processLogger({ level, format }: BridgeConfig['log']): Logger {
  const pretty = format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true);
  return createLogger(level, new SafeDestination(1, pretty ? prettyFormatter() : undefined));
}

/**
 * pino-pretty's formatter, loaded only when a human reads the log (it is CommonJS: required, not imported).
 * `plugins` is left out: the boot line already draws them as a tree, the JSON log keeps the array.
 */
function prettyFormatter(): (line: string) => string {
  const require = createRequire(import.meta.url);
  const { prettyFactory } = require('pino-pretty') as typeof import('pino-pretty');
  return prettyFactory({ colorize: process.stdout.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name,plugins' });
}
