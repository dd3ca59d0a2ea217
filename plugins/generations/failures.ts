import type { TransportEvent } from '../../core/contracts/transport.js';
import { BridgeError, backendUnavailable, badRequest, internal } from '../../core/errors.js';

type FailedEvent = Extract<TransportEvent, { type: 'failed' }>;

/** "node 5 (FailingNode) raised RuntimeError: boom" — what a client reads in error_message. */
export function describeRuntimeFailure(event: Pick<FailedEvent, 'node' | 'nodeType' | 'exceptionType' | 'message'>): string {
  const where = event.node === null ? 'the workflow' : `node ${event.node}${event.nodeType ? ` (${event.nodeType})` : ''}`;
  const what = event.exceptionType ? `raised ${event.exceptionType}: ` : 'failed: ';
  return `${where} ${what}${event.message}`;
}

/** A BridgeError, also one made by another copy of core/errors (a transport loaded from elsewhere). */
export function asBridgeError(error: unknown): BridgeError | undefined {
  if (error instanceof BridgeError) return error;
  const e = error as Partial<BridgeError> | null;
  if (e && typeof e === 'object' && typeof e.status === 'number' && typeof e.code === 'string' && typeof e.detail === 'string') {
    return new BridgeError(e.status, e.code, e.detail, { cause: error, headers: e.headers ?? {}, extra: e.extra ?? {} });
  }
  return undefined;
}

/**
 * Why submitting failed (recorded on the generation) and the error the client gets: 400 with
 * ComfyUI's node errors for a rejected graph, 503 with Retry-After for an unreachable backend.
 */
export function submitFailure(caught: unknown, backend: string, generationId: string): { reason: string; rethrow: BridgeError } {
  const error = asBridgeError(caught);
  if (error) {
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
    rethrow: internal('the generation could not be submitted to ComfyUI', { cause: caught }),
  };
}

export const messageOf = (error: unknown): string => asBridgeError(error)?.detail ?? (error instanceof Error ? error.message : String(error));
