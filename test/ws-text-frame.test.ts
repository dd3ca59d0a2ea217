import { expect } from 'chai';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
// ws's ESM entry exports its Sender; its types do not declare it.
import * as wsModule from 'ws';
import { frameSink, payloadOf, textFrame } from '../plugins/ws/text-frame.js';
import { until } from './helpers/until.js';

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
      expect(frame.bytes.equals(wsFrame(Buffer.from(text))), what).to.equal(true);
      expect(payloadOf(frame).toString('utf8')).to.equal(text);
    });
  }

  it('keeps every frame its own bytes, however many are made after it (frames are slices of shared slabs)', () => {
    const texts = Array.from({ length: 2000 }, (_, i) => `{"seq":${i},"pad":"${'x'.repeat((i * 37) % 700)}"}`);
    const frames = texts.map((text) => textFrame(text));
    texts.forEach((text, i) => expect(frames[i]!.bytes.equals(wsFrame(Buffer.from(text))), `frame ${i}`).to.equal(true));
  });

  /** A real server and client on 127.0.0.1; `server` answers the server side of the one connection. */
  async function pair(perMessageDeflate: boolean): Promise<{ server: WebSocket; client: WebSocket; close(): Promise<void> }> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate });
    await once(wss, 'listening');
    const accepted = once(wss, 'connection') as Promise<[WebSocket]>;
    const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { perMessageDeflate });
    const [[server]] = await Promise.all([accepted, once(client, 'open')]);
    return {
      server,
      client,
      close: async () => {
        client.terminate();
        await new Promise((resolve) => wss.close(resolve));
      },
    };
  }

  it('a frame written to the socket reaches a ws client as the text message, between frames ws itself sends', async () => {
    const { server, client, close } = await pair(false);
    try {
      const sink = frameSink(server);
      expect(sink, 'no extension negotiated: written directly').to.not.equal(undefined);
      const got: [string, boolean][] = [];
      client.on('message', (data: Buffer, isBinary: boolean) => got.push([data.toString('utf8'), isBinary]));
      const texts = ['{"seq":1}', 'é'.repeat(200), '{"seq":3}'];
      server.send(texts[0]!);
      sink!.write(textFrame(texts[1]!).bytes);
      server.send(texts[2]!);
      await until(() => got.length === 3, 'three messages');
      expect(got).to.deep.equal(texts.map((text) => [text, false]));
    } finally {
      await close();
    }
  });

  it('leaves a socket with permessage-deflate to ws.send (ws compresses and may hold frames back)', async () => {
    const { server, close } = await pair(true);
    try {
      expect(server.extensions).to.contain('permessage-deflate');
      expect(frameSink(server)).to.equal(undefined);
    } finally {
      await close();
    }
  });

  it('writes to the socket only when no extension was negotiated (a compressed socket goes through ws)', () => {
    const socket = { write: () => true, writableLength: 0 };
    expect(frameSink({ extensions: '', _socket: socket } as unknown as WebSocket)).to.equal(socket);
    // What the hub reads to bound a socket's send buffer must be there too.
    expect(frameSink({ extensions: '', _socket: { write: () => true } } as unknown as WebSocket)).to.equal(undefined);
    expect(frameSink({ extensions: 'permessage-deflate', _socket: socket } as unknown as WebSocket)).to.equal(undefined);
    expect(frameSink({ extensions: '', _socket: null } as unknown as WebSocket)).to.equal(undefined);
  });
});
