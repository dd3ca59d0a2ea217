import { pino, type Logger, type DestinationStream } from 'pino';

/** Header paths that must never reach a log line. */
const REDACT = ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers.cookie', 'headers.authorization', 'headers["x-api-key"]'];

/**
 * The bridge's logger: JSON lines, secret headers redacted. Where lines go is the caller's choice (the CLI
 * gives a destination that never blocks and prettifies on a terminal: cli/log.ts); by default pino's stdout.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, base: { name: 'comfy-bridge' }, redact: { paths: REDACT, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}
