import { expect } from 'chai';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { BackendHttp } from '../plugins/comfyui/http-client.js';

/**
 * A backend that answers the first request on each connection (kept alive) and resets the connection on
 * the next one without answering: what a kept-alive socket looks like when the backend closed it as
 * idle just as the bridge reused it.
 */
async function resettingServer(): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let answered = 0;
    socket.on('data', () => {
      if (answered++ > 0) return void socket.resetAndDestroy();
      const body = JSON.stringify({ ok: true });
      socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: keep-alive\r\n\r\n${body}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('comfyui http client: a kept-alive socket the backend reset', () => {
  it('sends a GET once more on a new socket, so a generation does not fail for an idle-timeout race', async () => {
    const backend = await resettingServer();
    const closing = new AbortController();
    const http = new BackendHttp(backend.url, 5000, closing.signal);
    try {
      expect((await http.json('GET', '/history/a')).body).to.deep.equal({ ok: true });
      // The kept-alive socket is reused and reset: answered from a second connection.
      expect((await http.json('GET', '/history/b')).body).to.deep.equal({ ok: true });
      expect(backend.connections()).to.equal(2);
      const file = await http.open('/view', { filename: 'x.png' });
      file.body.resume();
      expect(file.status).to.equal(200);
      expect(backend.connections()).to.equal(3);
    } finally {
      closing.abort();
      await backend.close();
    }
  });

  it('does not send a POST twice (the backend may have taken it)', async () => {
    const backend = await resettingServer();
    const closing = new AbortController();
    const http = new BackendHttp(backend.url, 5000, closing.signal);
    try {
      await http.json('GET', '/queue');
      let error: unknown;
      await http.json('POST', '/prompt', { prompt: {} }).catch((caught: unknown) => (error = caught));
      expect(error).to.be.instanceOf(Error);
      expect((error as Error).name).to.equal('UnreachableError');
      expect(backend.connections()).to.equal(1);
    } finally {
      closing.abort();
      await backend.close();
    }
  });
});

describe('comfyui http client: where a request goes', () => {
  it('keeps the base URL’s path, credentials and an IPv6 host, and sends the path and query it is given', async () => {
    const seen: { url: string; method: string; authorization: string | undefined; body: string }[] = [];
    const { createServer: createHttpServer } = await import('node:http');
    const server = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        seen.push({ url: req.url ?? '', method: req.method ?? '', authorization: req.headers.authorization, body });
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ at: req.url }));
      });
    });
    const listening = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(0, '::1', () => resolve(true));
    });
    // A machine without IPv6 loopback: the same checks on 127.0.0.1.
    if (!listening) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port, address } = server.address() as AddressInfo;
    const host = address.includes(':') ? `[${address}]` : address;
    const closing = new AbortController();
    const http = new BackendHttp(`http://us%40er:p%3Ass@${host}:${port}/comfy/`, 5000, closing.signal);
    try {
      expect((await http.json('POST', '/prompt', { a: 1 })).body).to.deep.equal({ at: '/comfy/prompt' });
      const file = await http.open('/view', { filename: 'a b.png', type: 'output' });
      file.body.resume();
      expect(file.status).to.equal(200);
      expect(http.url('/ws')).to.equal(`http://us%40er:p%3Ass@${host}:${port}/comfy/ws`);
      const basic = `Basic ${Buffer.from('us@er:p:ss').toString('base64')}`;
      expect(seen).to.deep.equal([
        { url: '/comfy/prompt', method: 'POST', authorization: basic, body: '{"a":1}' },
        { url: '/comfy/view?filename=a+b.png&type=output', method: 'GET', authorization: basic, body: '' },
      ]);
    } finally {
      closing.abort();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
