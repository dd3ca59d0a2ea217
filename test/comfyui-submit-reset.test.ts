import { expect } from 'chai';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { AbandonedPrompts } from '../plugins/comfyui/abandoned-prompts.js';
import type { BackendConnection } from '../plugins/comfyui/backend-connection.js';
import { BackendHttp } from '../plugins/comfyui/http-client.js';
import { InFlightPrompts } from '../plugins/comfyui/in-flight-prompts.js';
import { submitPrompt } from '../plugins/comfyui/prompt-submission.js';
import type { TransportContext } from '../plugins/comfyui/transport-context.js';

/**
 * A ComfyUI that resets the connection, without answering, the first time a POST /prompt comes on a kept-alive
 * connection (what the bridge sees when the backend closes an idle socket just as a prompt goes out on it; under
 * load this made a released generation in the bridge queue fail with 503 — test/fair-share-moves.test.ts). With
 * `takeBeforeReset`, it queues that prompt before resetting (a backend that took it and then lost the connection).
 */
async function resetOnceServer(takeBeforeReset: boolean) {
  const posted: string[] = [];
  const queued: string[] = [];
  let reset = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let requests = 0;
    socket.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      const [method, path] = text.split(' ');
      requests++;
      let body: unknown = {};
      if (method === 'POST' && path === '/prompt') {
        const { prompt_id: id } = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { prompt_id: string };
        posted.push(id);
        if (!reset && requests > 1) {
          reset = true;
          if (takeBeforeReset) queued.push(id);
          return void socket.resetAndDestroy();
        }
        queued.push(id);
        body = { prompt_id: id, number: queued.length - 1, node_errors: {} };
      } else if (path === '/queue') {
        body = { queue_running: [], queue_pending: queued.map((id, i) => [i, id, {}, {}, []]) };
      }
      const json = JSON.stringify(body);
      socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${json.length}\r\nconnection: keep-alive\r\n\r\n${json}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return { url, posted, queued, close };
}

describe('comfyui: a prompt sent on a kept-alive socket the backend reset as idle', () => {
  const log = pino({ level: 'silent' });
  const closing = new AbortController();
  after(() => closing.abort());

  const submitThrough = async (url: string, promptId: string) => {
    const http = new BackendHttp(url, 5000, closing.signal);
    // One answered request first, so the prompt goes out on a reused kept-alive socket.
    await http.json('GET', '/queue');
    const backend = { name: 'one', http, queueRemaining: 0, statusSeq: 0, jobsApi: false, lastError: null, abandoned: new AbandonedPrompts() } as unknown as BackendConnection;
    const ctx = { clientId: 'bridge', log, backends: { get: () => backend }, inFlight: new InFlightPrompts(log) } as unknown as TransportContext;
    const submitted = await submitPrompt(ctx, { promptId, backend: 'one', graph: {} }, () => {});
    return { submitted, backend, ctx };
  };

  it('is sent once more on a new socket when the backend does not have it, and the submission succeeds', async () => {
    const comfy = await resetOnceServer(false);
    try {
      const { submitted, backend } = await submitThrough(comfy.url, 'p-1');
      expect(submitted.tracked.promptId).to.equal('p-1');
      expect(comfy.posted).to.deep.equal(['p-1', 'p-1']);
      expect(comfy.queued).to.deep.equal(['p-1']);
      expect(backend.abandoned.has('p-1')).to.equal(false);
    } finally {
      await comfy.close();
    }
  });

  it('is not sent twice when the backend took it before the reset: the submission stands', async () => {
    const comfy = await resetOnceServer(true);
    try {
      const { submitted, ctx } = await submitThrough(comfy.url, 'p-2');
      expect(submitted.tracked.promptId).to.equal('p-2');
      expect(comfy.posted).to.deep.equal(['p-2']);
      expect(comfy.queued).to.deep.equal(['p-2']);
      expect(ctx.inFlight.has('p-2')).to.equal(true);
    } finally {
      await comfy.close();
    }
  });
});
