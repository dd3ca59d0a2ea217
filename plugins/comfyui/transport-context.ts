import type { Logger } from 'pino';
import type { BackendPool } from './backend-pool.js';
import type { InFlightPrompts } from './in-flight-prompts.js';
import type { ComfyuiOptions } from './options.js';

/** What the pieces of the transport share, passed to each explicitly. */
export interface TransportContext {
  readonly options: ComfyuiOptions;
  readonly clientId: string;
  readonly log: Logger;
  /** Aborted when the transport closes: ends every wait. */
  readonly closing: AbortSignal;
  readonly backends: BackendPool;
  readonly inFlight: InFlightPrompts;
}
