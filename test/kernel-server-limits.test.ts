import { expect } from 'chai';
import { request as httpRequest } from 'node:http';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createApp, type BridgeApp } from '../core/app.js';
import { finishConfig } from '../core/config/schema.js';
import echo from './fixtures/echo-plugin.js';
import { until } from './helpers/until.js';
import { makePngOfSize } from './upload-images.js';

interface Started {
  app: BridgeApp;
  port: number;
  dataDir: string;
  lines: Record<string, unknown>[];
}

async function start(server: Record<string, unknown>): Promise<Started> {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const dataDir = await mkdtemp(join(tmpdir(), 'server-limits-'));
  const config = finishConfig(
    { server: { host: '127.0.0.1', port: 0, shutdownTimeoutMs: 500, ...server }, dataDir, plugins: { util: {}, 'server-limits': {}, 'storage-nedb': { inMemory: true }, upload: {} } },
    { cwd: process.cwd(), configDir: process.cwd() },
  );
  const app = await createApp(config, { plugins: [echo], log: pino({ level: 'info' }, sink) });
  const { port } = await app.start();
  return { app, port, dataDir, lines };
}

/** A raw client: what it received, and whether the server closed it. */
interface RawClient {
  socket: Socket;
  received: () => string;
  closed: Promise<void>;
}

async function rawClient(port: number): Promise<RawClient> {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  socket.on('data', (chunk: Buffer) => void (text += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return { socket, received: () => text, closed };
}

/** Writes `bytes` one at a time every `everyMs` until the server closes the socket. */
function trickle(client: RawClient, bytes: string, everyMs: number): void {
  let index = 0;
  const timer = setInterval(() => {
    if (client.socket.destroyed || index >= bytes.length) return clearInterval(timer);
    client.socket.write(bytes[index++]!);
  }, everyMs);
  void client.closed.then(() => clearInterval(timer));
}

function jsonBodyOf(response: string): Record<string, unknown> {
  return JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
}

function multipart(boundary: string, bytes: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n`),
    bytes,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
}

describe('kernel: HTTP server limits (real slow sockets)', () => {
  describe('timeouts and the upload rate', () => {
    let started: Started;
    before(async () => {
      started = await start({ headersTimeoutMs: 400, requestTimeoutMs: 400, minUploadBytesPerSecond: 2000, uploadRateWindowMs: 300 });
    });
    after(async () => {
      await started.app.close();
      await rm(started.dataDir, { recursive: true, force: true });
    });

    it('closes a client whose headers trickle in, past headersTimeoutMs, with 408', async () => {
      const client = await rawClient(started.port);
      client.socket.write('GET /health HTTP/1.1\r\nHost: bridge\r\n');
      trickle(client, 'X-Slow: ' + 'a'.repeat(10_000), 50);
      await client.closed;
      expect(client.received()).to.match(/^HTTP\/1\.1 408 /);
    });

    it('answers 408 JSON and closes a JSON request whose body trickles past requestTimeoutMs', async () => {
      const client = await rawClient(started.port);
      const body = JSON.stringify({ text: 'hello' }).padEnd(200, ' ');
      client.socket.write(`POST /echo HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
      trickle(client, body, 50);
      await client.closed;
      expect(client.received()).to.match(/^HTTP\/1\.1 408 /);
      const answer = jsonBodyOf(client.received());
      expect(answer.error).to.equal('request_timeout');
      expect(answer.detail).to.equal('the request body did not arrive within 400 ms');
      expect(started.lines.some((line) => line.msg === 'request cut: its body did not arrive within server.requestTimeoutMs')).to.equal(true);
    });

    it('cuts an upload trickling below minUploadBytesPerSecond with 408 JSON, and leaves no file behind', async () => {
      const client = await rawClient(started.port);
      const body = multipart('trickle', makePngOfSize(20_000));
      client.socket.write(
        `POST /upload?clientId=slow-1 HTTP/1.1\r\nHost: bridge\r\nContent-Type: multipart/form-data; boundary=trickle\r\nContent-Length: ${body.length}\r\n\r\n`,
      );
      client.socket.write(body.subarray(0, 200));
      trickle(client, body.subarray(200).toString('latin1'), 50); // 20 bytes/s
      await client.closed;
      expect(client.received()).to.match(/^HTTP\/1\.1 408 /);
      expect(jsonBodyOf(client.received()).detail).to.match(/^the upload sent \d+ bytes in 300 ms, slower than the minimum of 2000 bytes per second$/);
      const incoming = join(started.dataDir, 'uploads', '.incoming');
      await until(async () => (await readdir(incoming)).length === 0, 'the incoming folder to be empty');
      expect(await readdir(join(started.dataDir, 'uploads'))).to.deep.equal(['.incoming']);
    });

    it('lets an upload that keeps moving take longer than requestTimeoutMs', async () => {
      const body = multipart('steady', makePngOfSize(60_000));
      const status = await new Promise<number>((resolve, reject) => {
        const request = httpRequest(
          {
            host: '127.0.0.1',
            port: started.port,
            method: 'POST',
            path: '/upload?clientId=steady-1',
            headers: { 'content-type': 'multipart/form-data; boundary=steady', 'content-length': body.length },
          },
          (response) => {
            response.resume();
            response.on('end', () => resolve(response.statusCode!));
          },
        );
        request.on('error', reject);
        // 4 KiB every 40 ms (~100 KB/s, far above the minimum): about 0.6 s in all, past the 400 ms deadline.
        let offset = 0;
        const timer = setInterval(() => {
          request.write(body.subarray(offset, offset + 4096));
          offset += 4096;
          if (offset >= body.length) {
            clearInterval(timer);
            request.end();
          }
        }, 40);
      });
      expect(status).to.equal(200);
    });
  });

  describe('connection cap', () => {
    let started: Started;
    const clients: RawClient[] = [];
    before(async () => {
      started = await start({ maxConnections: 3 });
    });
    after(async () => {
      for (const client of clients) client.socket.destroy();
      await started.app.close();
      await rm(started.dataDir, { recursive: true, force: true });
    });

    it('refuses connections past maxConnections with one clear log line, and serves again once one closes', async () => {
      for (let i = 0; i < 3; i++) clients.push(await rawClient(started.port));
      const fourth = await rawClient(started.port);
      const fifth = await rawClient(started.port);
      await Promise.all([fourth.closed, fifth.closed]);
      expect(fourth.received()).to.equal('');
      const warnings = started.lines.filter((line) => String(line.msg).startsWith('connection cap reached'));
      expect(warnings).to.have.length(1);
      expect(warnings[0]!.msg).to.equal('connection cap reached: server.maxConnections (3) sockets are open, new connections are refused until some close');

      clients.shift()!.socket.destroy();
      await until(async () => (await fetch(`http://127.0.0.1:${started.port}/health`).catch(() => undefined))?.status === 200, 'a free slot');
    });
  });
});
