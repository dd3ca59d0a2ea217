/**
 * What the generations plugin publishes on the bus for a client, one message per websocket frame
 * (SPEC §2.1): the frame as a client sees it, minus `seq`, which the bus assigns. The publisher
 * renders it completely (the 100.00% before `closed`, the `closed` after `error`); subscribers only
 * number, encode and deliver.
 */
export interface ClientFrame {
  status: 'progress' | 'closed' | 'error';
  details: string;
  data: Record<string, unknown>;
  /** The generation the frame belongs to. */
  generationId: string;
  /** The last frame of this generation. */
  ends: boolean;
  /** The client's generations still queued or running once this frame was published. */
  active: number;
}

/** The bus topic of one client's frames. */
export const clientTopic = (clientId: string): string => `client:${clientId}`;

/**
 * The JSON text of a frame's `data`, when its publisher encoded it already (the hot path: one
 * progress frame per event). A subscriber that writes the frame as JSON (the ws hub) may use it
 * instead of encoding `data` again, and takes it out once used. Kept beside the payload, not in it:
 * a bus that serialises payloads carries `data` itself, and the text is exactly JSON.stringify(data),
 * which never changes once published.
 */
export const encodedFrameData = new WeakMap<object, string>();
