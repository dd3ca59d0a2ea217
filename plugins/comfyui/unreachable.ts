import { backendUnavailable, retryAfter } from '../../contracts/transport.js';
import type { BackendConnection } from './backend-connection.js';
import { UnreachableError } from './http-client.js';

/** Runs a call to `backend`, turning "cannot reach it" into a 503 with Retry-After (other errors pass through). */
export async function unreachableAs503<T>(backend: BackendConnection, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof UnreachableError)) throw error;
    backend.lastError = error.message;
    throw backendUnavailable(`ComfyUI backend ${backend.name} cannot be reached`, {
      cause: error,
      headers: retryAfter(),
    });
  }
}
