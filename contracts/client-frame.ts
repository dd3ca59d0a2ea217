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

/** Writes a frame's `data` as JSON: exactly what JSON.stringify(data) gives, only faster. */
export interface FrameDataEncoder {
  encode(data: Record<string, unknown>): string;
  /**
   * Optional: the UTF-8 bytes of `encode(data)` written into `target` from `offset`, with no string of the
   * whole made (the ws hub writes a frame's bytes piece by piece). Returns the offset after them, or -1 when
   * they do not fit or are not all ASCII (the caller then uses `encode`); -1 in, -1 out.
   */
  writeInto?(data: Record<string, unknown>, target: Uint8Array, offset: number): number;
}

/**
 * Writes `text` into `target` at `offset` when every character is ASCII (its UTF-8 bytes are then its char
 * codes): the offset after it, or -1 when it is not ASCII or does not fit (-1 in, -1 out). For short JSON
 * pieces (keys, numbers) a loop here costs less than a call into Buffer#write or TypedArray#set.
 */
export function writeAscii(target: Uint8Array, offset: number, text: string): number {
  if (offset < 0 || offset + text.length > target.length) return -1;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x7f) return -1;
    target[offset + i] = code;
  }
  return offset + text.length;
}

/**
 * `JSON.stringify(text)` written into `target` at `offset` when that is the text in quotes (printable ASCII,
 * no quote or backslash: nothing to escape): the offset after it, or -1 otherwise or when it does not fit.
 */
export function writeJsonString(target: Uint8Array, offset: number, text: string): number {
  const end = offset + text.length + 2;
  if (offset < 0 || end > target.length) return -1;
  target[offset] = QUOTE;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code > 0x7e || code === QUOTE || code === BACKSLASH) return -1;
    target[offset + 1 + i] = code;
  }
  target[end - 1] = QUOTE;
  return end;
}

/**
 * `${n}` (what JSON.stringify writes for a finite number) written into `target` at `offset`: a non-negative
 * integer (a seq, a step) digit by digit, with no string made; any other number through its text. The
 * offset after it, or -1 when it does not fit (-1 in, -1 out).
 */
export function writeNumber(target: Uint8Array, offset: number, n: number): number {
  if (offset < 0) return -1;
  if (!(n >= 0 && n <= Number.MAX_SAFE_INTEGER && Math.floor(n) === n)) return writeAscii(target, offset, `${n}`);
  let digits = 1;
  for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  const end = offset + digits;
  if (end > target.length) return -1;
  let rest = n;
  for (let i = end - 1; i >= offset; i--) {
    const next = Math.floor(rest / 10);
    target[i] = ZERO + (rest - next * 10);
    rest = next;
  }
  return end;
}

const ZERO = 0x30;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Copies `bytes` into `target` at `offset`: the offset after them, or -1 when they do not fit (-1 in, -1 out). */
export function writeBytes(target: Uint8Array, offset: number, bytes: Uint8Array): number {
  if (offset < 0 || offset + bytes.length > target.length) return -1;
  target.set(bytes, offset);
  return offset + bytes.length;
}

/**
 * How to encode a frame's `data`, when its publisher knows a faster way than JSON.stringify (the hot
 * path: one progress frame per event, encoded from a template per generation). A subscriber that
 * writes the frame as JSON (the ws hub) may use it, and takes it out once used. Beside the payload,
 * not in it: a bus that serialises payloads carries `data` itself. An encoder shared by the frames of
 * a generation, not the text: nothing per frame is encoded or kept for a client with no socket open.
 * A frame's data is never changed once published, so the encoding holds as long as the entry.
 */
export class FrameDataEncoders {
  // On the hot path the encoder is registered and taken out in one synchronous call (the machine's step
  // publishes on the in-process bus, whose delivery reaches the hub's encoding before it returns): the
  // last entry is kept in a slot, and only one still there when the next comes moves to the WeakMap.
  // That saves three WeakMap operations per frame (a hash table of weak keys, which every young-generation
  // collection also walks). A data object is registered once (a frame is published once).
  #data: object | undefined;
  #encoder: FrameDataEncoder | undefined;
  readonly #others = new WeakMap<object, FrameDataEncoder>();

  set(data: object, encoder: FrameDataEncoder): this {
    if (this.#data !== undefined && this.#data !== data) this.#others.set(this.#data, this.#encoder!);
    this.#data = data;
    this.#encoder = encoder;
    return this;
  }

  get(data: object): FrameDataEncoder | undefined {
    return data === this.#data ? this.#encoder : this.#others.get(data);
  }

  has(data: object): boolean {
    return data === this.#data || this.#others.has(data);
  }

  delete(data: object): boolean {
    if (data !== this.#data) return this.#others.delete(data);
    this.#data = this.#encoder = undefined;
    return true;
  }
}

/** The registry the machine and the ws hub share (see above). */
export const frameDataEncoders = new FrameDataEncoders();
