import { BridgeError } from '../../core/errors.js';

const CODES: Record<number, string> = { 400: 'bad_request', 413: 'payload_too_large', 415: 'unsupported_media_type' };

/** Why one file of an upload is refused, before we know (or say) which field it came in. */
export class ImageRejected extends Error {
  constructor(
    readonly status: 400 | 413 | 415,
    readonly reason: string,
  ) {
    super(reason);
    this.name = 'ImageRejected';
  }
}

/** The client-facing error for a refused part: names the field in the sentence and as `field`. */
export function rejectPart(status: number, field: string | null, reason: string, cause?: unknown): BridgeError {
  const where = field === null ? 'a part without a field name' : `field ${JSON.stringify(field)}`;
  return new BridgeError(status, CODES[status] ?? 'bad_request', `${where}: ${reason}`, {
    cause,
    extra: field === null ? {} : { field },
  });
}
