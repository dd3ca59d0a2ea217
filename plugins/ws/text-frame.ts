import * as wsModule from 'ws';
import type { WebSocket } from 'ws';

/**
 * Websocket text frames built once and written to the socket as they are. One frame goes to every socket
 * of a client, so its header is built once too, and each send is one `write` of one Buffer: ws's `send`
 * frames the payload again per socket and writes header and payload as two chunks (cork, two writes,
 * uncork, `writev`), about 3 µs a frame more on the fan-out bench (docs/performance.md, "Fan-out, wave 7").
 * The header is ws's own (Sender.frame, with the options ws.send uses for a server's unmasked text frame),
 * so the bytes on the wire are those ws.send writes (a test compares them).
 */
export interface TextFrame {
  /** ws's header, then the payload. */
  readonly bytes: Buffer;
  /** Where the payload starts in `bytes`. */
  readonly headerLength: number;
}

/** ws's framer: exported by ws (also as WebSocket.Sender), not declared by its types. */
const { Sender } = wsModule as unknown as { Sender: { frame(data: Buffer, options: FrameOptions): Buffer[] } };
interface FrameOptions {
  fin: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
  rsv1: boolean;
}
/** A whole (FIN), text (opcode 1), unmasked (a server's), uncompressed frame. */
const TEXT_FRAME: FrameOptions = { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false };

/** Room before the payload in `scratch` for ws's header of a payload shorter than 64 KiB (2 or 4 bytes). */
const HEADROOM = 4;
/** Where a short text is encoded first, after HEADROOM: one pass over it (its UTF-8 length is then known), then one copy. */
const scratch = Buffer.allocUnsafe(HEADROOM + 64 * 1024);
/** The longest text surely encoded whole in the scratch buffer (at most 3 bytes of UTF-8 per UTF-16 unit). */
const SCRATCH_CHARS = Math.floor((scratch.length - HEADROOM) / 3);

/** A text frame of `text` (JSON here): ws's header and the payload, in one Buffer. */
export function textFrame(text: string): TextFrame {
  return text.length <= SCRATCH_CHARS ? scratchFrame(payloadScratch.write(text, 0)) : framed(Buffer.from(text));
}

/**
 * Where a frame's payload may be written piece by piece (from 0), then framed with `scratchFrame(length)`:
 * for a payload made of ready bytes and short ASCII values (a progress frame), no string of the whole is
 * built. Valid until the next frame is made: write and frame in one synchronous go.
 */
export const payloadScratch: Buffer = scratch.subarray(HEADROOM);

/**
 * A text frame of the first `length` bytes of payloadScratch: ws's header for that length (made by ws once
 * per length, kept) put just before the payload, and the two copied out together into a slice of a slab,
 * once per message (not per socket). Per frame that is one copy and one Buffer view, where ws's framer
 * allocates a header and Buffer.concat a pooled Buffer (about 1 µs a frame; docs/performance.md, wave 9).
 */
export function scratchFrame(length: number): TextFrame {
  const header = length < HEADERS_KEPT ? (headers[length] ??= Buffer.from(Sender.frame(payloadScratch.subarray(0, length), TEXT_FRAME)[0]!)) : undefined;
  if (header === undefined || header.length > HEADROOM) return framed(payloadScratch.subarray(0, length));
  const start = HEADROOM - header.length;
  header.copy(scratch, start);
  return { bytes: copyOut(scratch, start, HEADROOM + length), headerLength: header.length };
}

/** ws's headers by payload length, for the lengths frames usually have (a progress frame is ~330 bytes). */
const HEADERS_KEPT = 4096;
const headers: (Buffer | undefined)[] = [];

/** Frames are copied out of the scratch buffer into slices of a slab: a Buffer view each, not an allocation. */
const SLAB_BYTES = 64 * 1024;
let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
let slabAt = 0;

/** source[from, to) copied into a Buffer of its own (a slice of the slab; a new slab when it is full). */
function copyOut(source: Buffer, from: number, to: number): Buffer {
  const length = to - from;
  if (length > SLAB_BYTES / 8) return Buffer.from(source.subarray(from, to));
  if (slabAt + length > SLAB_BYTES) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabAt = 0;
  }
  const at = slabAt;
  source.copy(slab, at, from, to);
  // 8-aligned, as Node's own pool does.
  slabAt = (at + length + 7) & ~7;
  return Buffer.from(slab.buffer, at, length);
}

function framed(payload: Buffer): TextFrame {
  const parts = Sender.frame(payload, TEXT_FRAME);
  const headerLength = parts[0]!.length;
  return { bytes: Buffer.concat(parts, headerLength + payload.length), headerLength };
}

/** The payload of a frame (for a socket sent through ws's `send`). */
export const payloadOf = (frame: TextFrame): Buffer => frame.bytes.subarray(frame.headerLength);

/** What a ready frame is written to. */
export interface FrameSink {
  write(frame: Buffer): unknown;
  /** Bytes written and not yet handed to the kernel (net.Socket's writableLength). */
  readonly writableLength: number;
}

/**
 * The socket under `ws`, when a ready frame may be written to it directly; undefined: send through ws.
 * `_socket` is ws's private field (the net.Socket ws writes its frames to); when a ws release renames it,
 * this finds none and every frame goes through ws.send. Only with no extension negotiated: with
 * permessage-deflate, ws compresses and may queue frames, so a frame written beside it could overtake
 * one ws still holds. Without it, ws writes every frame synchronously, in call order, so frames written
 * here and by ws (pings, the close handshake) never interleave.
 */
export function frameSink(ws: WebSocket): FrameSink | undefined {
  if (ws.extensions !== '') return undefined;
  const socket = (ws as unknown as { _socket?: FrameSink | null })._socket;
  return socket && typeof socket.write === 'function' && typeof socket.writableLength === 'number' ? socket : undefined;
}
