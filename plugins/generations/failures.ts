import { backendUnavailable, isGraphRejected, retryAfter, WORKFLOW_UNAVAILABLE } from '../../contracts/transport.js';
import { badRequest, internal, isBridgeError, type BridgeError } from '../../core/errors.js';

/**
 * Why submitting failed (recorded on the generation) and the error the client gets: 400 with
 * ComfyUI's node errors for a rejected graph, 503 with Retry-After for an unreachable backend.
 */
export function submitFailure(error: unknown, backend: string, generationId: string): { reason: string; rethrow: BridgeError } {
  if (isGraphRejected(error)) {
    return {
      reason: error.detail,
      rethrow: badRequest(error.detail, { cause: error, extra: { id: generationId, ...error.extra } }),
    };
  }
  // isBridgeError, not instanceof: the transport may come with its own copy of core/errors.
  if (isBridgeError(error)) {
    // The backend lacks what the graph needs: the transport's own 503 names it; keep it.
    if (error.code === WORKFLOW_UNAVAILABLE) return { reason: error.detail, rethrow: error };
    if (error.status === 503) {
      const reason = `ComfyUI backend ${backend} could not be reached to submit the generation`;
      return {
        reason,
        rethrow: backendUnavailable(reason, {
          cause: error,
          headers: { ...retryAfter(), ...error.headers },
          extra: { id: generationId },
        }),
      };
    }
    return { reason: error.detail, rethrow: error };
  }
  return {
    reason: 'the generation could not be submitted to ComfyUI',
    rethrow: internal('the generation could not be submitted to ComfyUI', { cause: error }),
  };
}

export const messageOf = (error: unknown): string =>
  isBridgeError(error) ? error.detail : error instanceof Error ? error.message : String(error);
