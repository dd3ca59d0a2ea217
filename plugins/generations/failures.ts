import type { TransportEvent } from '../../contracts/transport.js';
import { backendUnavailable, badRequest, internal, isBridgeError, type BridgeError } from '../../core/errors.js';

type FailedEvent = Extract<TransportEvent, { type: 'failed' }>;

/** "node 5 (FailingNode) raised RuntimeError: boom" — what a client reads in error_message. */
export function describeRuntimeFailure(event: Pick<FailedEvent, 'node' | 'nodeType' | 'exceptionType' | 'message'>): string {
  const where = event.node === null ? 'the workflow' : `node ${event.node}${event.nodeType ? ` (${event.nodeType})` : ''}`;
  const what = event.exceptionType ? `raised ${event.exceptionType}: ` : 'failed: ';
  return `${where} ${what}${event.message}`;
}

/**
 * Why submitting failed (recorded on the generation) and the error the client gets: 400 with
 * ComfyUI's node errors for a rejected graph, 503 with Retry-After for an unreachable backend.
 */
export function submitFailure(error: unknown, backend: string, generationId: string): { reason: string; rethrow: BridgeError } {
  // isBridgeError, not instanceof: the transport may come with its own copy of core/errors.
  if (isBridgeError(error)) {
    if (error.code === 'graph_rejected') {
      return {
        reason: error.detail,
        rethrow: badRequest(error.detail, { cause: error, extra: { id: generationId, ...error.extra } }),
      };
    }
    if (error.status === 503) {
      const reason = `ComfyUI backend ${backend} could not be reached to submit the generation`;
      return {
        reason,
        rethrow: backendUnavailable(reason, {
          cause: error,
          headers: { 'Retry-After': error.headers['Retry-After'] ?? '5' },
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
