import { BootError } from '../core/errors.js';

/** The command line itself is wrong (unknown flag or command): usage on stderr and exit code 2, not 1. */
export class UsageError extends BootError {
  override readonly name = 'UsageError';
}
