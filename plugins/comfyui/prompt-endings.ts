import type { TransportEvent } from '../../contracts/transport.js';
import type { Found } from './protocol.js';

type EndEvent = Extract<TransportEvent, { type: 'completed' | 'failed' | 'interrupted' | 'lost' }>;
/** An end event before it is addressed to a prompt and backend. */
export type Ending = EndEvent extends infer E ? (E extends unknown ? Omit<E, 'promptId' | 'backend'> : never) : never;

/** The end a backend's answer means, or null while the prompt is still queued or running (or unknown). */
export function endingOf(found: Found): Ending | null {
  switch (found.state) {
    case 'completed':
      return { type: 'completed', outputs: found.outputs };
    case 'failed':
      return {
        type: 'failed',
        node: found.node,
        nodeType: found.nodeType,
        exceptionType: found.exceptionType,
        message: found.message,
      };
    case 'interrupted':
      return { type: 'interrupted', node: found.node };
    default:
      return null;
  }
}
