import { pino, type Logger, type DestinationStream } from 'pino';

/** Header paths that must never reach a log line. */
const REDACT = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, base: { name: 'comfy-bridge' }, redact: { paths: REDACT, censor: '[redacted]' } }, destination);
}
