import type { WebSocket } from 'ws';

/**
 * Websocket text frames built once and written to the socket as they are (RFC 6455 §5.2: FIN, opcode 1,
 * unmasked as a server's frames are, the shortest length encoding). One frame goes to every socket of a
 * client, so its header is built once too, and each send is one `write` of one Buffer: ws's `send` builds
 * a header per socket and writes header and payload as two chunks (cork, two writes, uncork, `writev`),
 * about 3 µs a frame more on the fan-out bench (docs/performance.md, "Fan-out, wave 7"). The bytes on the
 * wire are those ws writes (a test compares them with ws's own Sender.frame).
 */
export type TextFrame = Buffer;

/** Header size of a frame whose payload is `length` bytes. */
const headerLength = (length: number): number => (length < 126 ? 2 : length < 65536 ? 4 : 10);

/** Where a short text is encoded first: one pass over it (its UTF-8 length is then known), and a copy. */
const scratch = Buffer.allocUnsafe(64 * 1024);
/** The longest text surely encoded whole in `scratch` (at most 3 bytes of UTF-8 per UTF-16 unit). */
const SCRATCH_CHARS = Math.floor(scratch.length / 3);

/** A text frame of `text` (JSON here): header and payload in one Buffer. */
export function textFrame(text: string): TextFrame {
  if (text.length <= SCRATCH_CHARS) {
    const length = scratch.write(text, 0);
    const head = headerLength(length);
    const frame = Buffer.allocUnsafe(head + length);
    writeHeader(frame, length, head);
    scratch.copy(frame, head, 0, length);
    return frame;
  }
  const length = Buffer.byteLength(text);
  const head = headerLength(length);
  const frame = Buffer.allocUnsafe(head + length);
  writeHeader(frame, length, head);
  frame.write(text, head);
  return frame;
}

function writeHeader(frame: Buffer, length: number, head: number): void {
  frame[0] = 0x81;
  if (head === 2) frame[1] = length;
  else if (head === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
}

/** The payload of a frame (for a socket sent through ws's `send`). */
export function payloadOf(frame: TextFrame): Buffer {
  const mark = frame[1]! & 0x7f;
  return frame.subarray(mark < 126 ? 2 : mark === 126 ? 4 : 10);
}

/** What a ready frame is written to. */
export interface FrameSink {
  write(frame: Buffer): unknown;
}

/**
 * The socket under `ws`, when a ready frame may be written to it directly: no extension negotiated (no
 * compression: ws would then queue and deflate) and ws's socket where ws keeps it. ws writes every frame of
 * an uncompressed socket synchronously, in call order, so frames written here and by ws.send (pings, the
 * close handshake) never interleave inside a frame. undefined: send through ws.
 */
export function frameSink(ws: WebSocket): FrameSink | undefined {
  if (ws.extensions !== '') return undefined;
  const socket = (ws as unknown as { _socket?: FrameSink | null })._socket;
  return socket && typeof socket.write === 'function' ? socket : undefined;
}
