import { expect } from 'chai';
import { pino } from 'pino';
import { WebSocket } from 'ws';
import { createApp, type BridgeApp } from '../core/app.js';
import { finishConfig } from '../core/config/schema.js';
import { tooManyRequests } from '../core/errors.js';
import { definePlugin, type PluginManifest } from '../core/plugin.js';

const quiet = pino({ level: 'silent' });
const config = () => finishConfig({ server: { port: 0 }, plugins: {} }, { cwd: process.cwd(), configDir: process.cwd() });

const mounting = (name: string, path: string): PluginManifest<never> =>
  definePlugin({ name, register: (ctx) => ctx.route({ method: 'get', path, summary: name, scope: 'public', handler: (http) => void (http.body = { from: name }) }) }) as PluginManifest<never>;

/** Opens a websocket and resolves with the HTTP status of a refusal, or 101 and the first message. */
function open(url: string): Promise<{ status: number; body?: unknown; first?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('unexpected-response', (_request, response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as unknown }));
    });
    ws.on('message', (data) => {
      resolve({ status: 101, first: data.toString() });
      ws.close();
    });
    ws.on('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

describe('kernel: route kinds and conflicts', () => {
  it('refuses to boot when two plugins mount the same method and path, naming both', async () => {
    let failure: Error | undefined;
    try {
      await createApp(config(), { plugins: [mounting('first', '/same/:a'), mounting('second', '/same/:b')], log: quiet });
    } catch (error) {
      failure = error as Error;
    }
    expect(failure?.message).to.equal('plugin "second" mounts GET /same/:b, which plugin "first" already mounts');
  });

  describe('a running app', () => {
    let app: BridgeApp;
    let base: string;
    const opened: string[] = [];

    before(async () => {
      const sockets = definePlugin({
        name: 'sockets',
        register(ctx) {
          ctx.route({
            method: 'ws',
            path: '/live',
            summary: 'A live channel',
            scope: 'public',
            maxPayload: 64,
            query: { type: 'object', required: ['room'], properties: { room: { type: 'string', pattern: '^[a-z]+$' }, n: { type: 'integer' } } },
            accept({ query }) {
              if (query.room === 'full') throw tooManyRequests('the room is full', { headers: { 'Retry-After': '7' } });
            },
            open(ws, { query }) {
              opened.push(`${String(query.room)}:${typeof query.n}`);
              ws.send(JSON.stringify({ hello: query.room, n: query.n }));
            },
          });
          ctx.route({ method: 'post', path: '/only-post', summary: 'post', scope: 'public', handler: (http) => void (http.body = { ok: true }) });
        },
      }) as PluginManifest<never>;
      app = await createApp(config(), { plugins: [sockets], log: quiet });
      ({ url: base } = await app.start());
    });
    after(() => app.close());

    it('admits a websocket through the query schema (coerced) and opens it', async () => {
      const answer = await open(`${base.replace('http', 'ws')}/live?room=abc&n=4`);
      expect(answer).to.deep.equal({ status: 101, first: JSON.stringify({ hello: 'abc', n: 4 }) });
      expect(opened).to.include('abc:number');
    });

    it('refuses a bad query, a refusal of accept and an unknown path with the JSON error body', async () => {
      const ws = base.replace('http', 'ws');
      expect(await open(`${ws}/live?room=ABC`)).to.deep.equal({
        status: 400,
        body: { error: 'bad_request', detail: 'invalid query parameter: room must match pattern "^[a-z]+$"' },
      });
      expect(await open(`${ws}/live?room=full`)).to.deep.equal({ status: 429, body: { error: 'too_many_requests', detail: 'the room is full' } });
      expect((await open(`${ws}/nowhere?room=a`)).status).to.equal(404);
    });

    it('answers a plain GET on a websocket path with 426 after the same checks', async () => {
      const plain = await fetch(`${base}/live?room=abc`);
      expect(plain.status).to.equal(426);
      expect(plain.headers.get('upgrade')).to.equal('websocket');
      expect(((await plain.json()) as { error: string }).error).to.equal('upgrade_required');
      expect((await fetch(`${base}/live`)).status).to.equal(400);
    });

    it('answers 405 with Allow and 501 as JSON error bodies', async () => {
      const wrong = await fetch(`${base}/only-post`);
      expect(wrong.status).to.equal(405);
      expect(wrong.headers.get('allow')).to.equal('POST');
      expect(await wrong.json()).to.deep.equal({ error: 'method_not_allowed', detail: '/only-post does not take GET; it takes POST' });
      const unknown = await fetch(`${base}/only-post`, { method: 'PROPFIND' });
      expect(unknown.status).to.equal(501);
      expect(await unknown.json()).to.deep.equal({ error: 'not_implemented', detail: 'no route takes the method PROPFIND' });
    });

    it('records the websocket route for the OpenAPI document as a GET with 101 and 426', () => {
      const live = app.routes().find((route) => route.path === '/live');
      expect(live).to.include({ method: 'get', websocket: true, plugin: 'sockets', scope: 'public' });
      expect(Object.keys(live?.responses ?? {})).to.include.members(['101', '426']);
    });
  });
});
