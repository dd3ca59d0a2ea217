import { expect } from 'chai';
import type { WebSocket } from 'ws';
// ws's ESM entry exports its Sender; its types do not declare it.
import * as wsModule from 'ws';
import { frameSink, payloadOf, textFrame } from '../plugins/ws/text-frame.js';

/**
 * The ws hub writes each generation frame to the socket as a ready websocket frame (text-frame.ts)
 * instead of through ws.send: the bytes must be exactly those ws would write for the same text.
 */
const { Sender } = wsModule as unknown as { Sender: { frame(data: Buffer, options: object): Buffer[] } };
const wsFrame = (payload: Buffer): Buffer => Buffer.concat(Sender.frame(payload, { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: true }));

describe('websocket text frames built once (ws hub)', () => {
  const texts: [string, string][] = [
    ['empty', ''],
    ['a progress frame', JSON.stringify({ status: 'progress', details: '12.50%', seq: 7, data: { id: 'gen_1', percent: 12.5 } })],
    ['125 bytes (the longest 7-bit length)', 'x'.repeat(125)],
    ['126 bytes (the first 16-bit length)', 'x'.repeat(126)],
    ['65,535 bytes (the longest 16-bit length)', 'y'.repeat(65535)],
    ['65,536 bytes (the first 64-bit length)', 'z'.repeat(65536)],
    ['21,845 three-byte characters (65,535 bytes: the longest text encoded through the scratch buffer)', '漢'.repeat(21845)],
    ['21,846 three-byte characters (65,538 bytes)', '漢'.repeat(21846)],
    ['non-ASCII (length in bytes, not characters)', `{"workflow":"unicode é 漢字 \u2028 😀${'é'.repeat(70)}"}`],
  ];
  for (const [what, text] of texts) {
    it(`writes what ws writes for the same text: ${what}`, () => {
      const frame = textFrame(text);
      expect(frame.equals(wsFrame(Buffer.from(text))), what).to.equal(true);
      expect(payloadOf(frame).toString('utf8')).to.equal(text);
    });
  }

  it('writes to the socket only when no extension was negotiated (a compressed socket goes through ws)', () => {
    const socket = { write: () => true };
    expect(frameSink({ extensions: '', _socket: socket } as unknown as WebSocket)).to.equal(socket);
    expect(frameSink({ extensions: 'permessage-deflate', _socket: socket } as unknown as WebSocket)).to.equal(undefined);
    expect(frameSink({ extensions: '', _socket: null } as unknown as WebSocket)).to.equal(undefined);
  });
});
