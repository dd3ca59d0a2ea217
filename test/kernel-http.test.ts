import { expect } from 'chai';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createApp, type BridgeApp } from '../core/app.js';
import { finishConfig } from '../core/config/schema.js';
import echo, { taps } from './fixtures/echo-plugin.js';

describe('kernel: HTTP pipeline', () => {
  let app: BridgeApp;
  let url: string;
  const lines: Record<string, unknown>[] = [];

  before(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const config = finishConfig(
      { server: { port: 0, bodyLimitBytes: 2048 }, plugins: { util: {} } },
      { cwd: process.cwd(), configDir: process.cwd() },
    );
    app = await createApp(config, { plugins: [echo], log: pino({ level: 'debug' }, sink) });
    ({ url } = await app.start());
  });
  after(async () => {
    await app.close();
  });

  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${url}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });

  it('serves /health from the util plugin and runs ready taps of an outside plugin', async () => {
    const response = await fetch(`${url}/health`);
    expect(response.status).to.equal(200);
    expect(response.headers.get('content-type')).to.equal('application/json; charset=utf-8');
    const body = (await response.json()) as { uptime_s: unknown };
    expect(body).to.include({ status: 'ok', version: '0.1.0' });
    expect(body.uptime_s).to.be.a('number');
    expect(taps).to.include('ready');
  });

  it('answers as the router does for what the exact-path map does not hold: HEAD, a trailing slash, another method', async () => {
    const head = await fetch(`${url}/health`, { method: 'HEAD' });
    expect(head.status).to.equal(200);
    expect(Number(head.headers.get('content-length'))).to.be.greaterThan(20);
    const slash = await fetch(`${url}/health/`);
    expect(slash.status).to.equal(200);
    expect(await slash.json()).to.include({ status: 'ok' });
    const wrongMethod = await fetch(`${url}/health`, { method: 'DELETE' });
    expect(wrongMethod.status).to.equal(405);
    expect(wrongMethod.headers.get('allow')).to.include('GET');
    expect(await wrongMethod.json()).to.include({ error: 'method_not_allowed' });
  });

  it('validates and coerces query and body before the handler', async () => {
    const response = await post('/echo?n=3', JSON.stringify({ text: 'hi' }));
    expect(response.status).to.equal(200);
    expect(await response.json()).to.deep.equal({ query: { n: 3 }, body: { text: 'hi' }, principal: 'anonymous' });
  });

  it('answers 400 naming the bad query key or body field', async () => {
    const query = await post('/echo?n=zero', JSON.stringify({ text: 'hi' }));
    expect(query.status).to.equal(400);
    expect(await query.json()).to.deep.equal({ error: 'bad_request', detail: 'invalid query parameter: n must be integer' });
    for (const spelling of ['1e1', '0x10', '%207', '2.0']) {
      const odd = await post(`/echo?n=${spelling}`, JSON.stringify({ text: 'hi' }));
      expect(odd.status, spelling).to.equal(400);
      expect(await odd.json()).to.deep.equal({ error: 'bad_request', detail: 'invalid query parameter: n must be integer' });
    }
    const unknown = await post('/echo', JSON.stringify({ text: 'hi', extra: 1 }));
    expect(await unknown.json()).to.deep.equal({ error: 'bad_request', detail: 'invalid body field: extra is not a known key' });
    const missing = await post('/echo', '{}');
    expect(await missing.json()).to.deep.equal({ error: 'bad_request', detail: 'invalid body field: text is required' });
  });

  it('answers 400 for malformed JSON, 413 for a body over the limit, 415 for a body not sent as application/json', async () => {
    const malformed = await post('/echo', '{"text": ');
    expect(malformed.status).to.equal(400);
    expect(((await malformed.json()) as { detail: string }).detail).to.match(/^malformed JSON body/);
    const huge = await post('/echo', JSON.stringify({ text: 'x'.repeat(5000) }));
    expect(huge.status).to.equal(413);
    expect(await huge.json()).to.deep.equal({ error: 'payload_too_large', detail: 'the JSON body is larger than 2048 bytes' });
    const text = await fetch(`${url}/echo`, { method: 'POST', body: 'text=hi', headers: { 'content-type': 'text/plain' } });
    expect(text.status).to.equal(415);
    expect(((await text.json()) as { error: string }).error).to.equal('unsupported_media_type');
    // Another JSON media type is not parsed either: refused for its type, not for its (malformed) content.
    const other = await fetch(`${url}/echo`, { method: 'POST', body: '{"text": ', headers: { 'content-type': 'application/vnd.api+json' } });
    expect(other.status).to.equal(415);
    expect(((await other.json()) as { error: string }).error).to.equal('unsupported_media_type');
  });

  it('maps a coded error to its status, body and headers', async () => {
    const response = await fetch(`${url}/coded`);
    expect(response.status).to.equal(400);
    expect(response.headers.get('retry-after')).to.equal('3');
    expect(await response.json()).to.deep.equal({ error: 'bad_request', detail: 'the thing is wrong' });
  });

  it('answers 500 with no internals for an unexpected exception, and logs the cause', async () => {
    const response = await fetch(`${url}/explode`);
    expect(response.status).to.equal(500);
    const text = await response.text();
    expect(JSON.parse(text)).to.deep.equal({ error: 'internal', detail: 'internal server error' });
    expect(text).not.to.contain('shadow');
    const logged = lines.find((l) => l.msg === 'request failed');
    expect(JSON.stringify(logged)).to.contain('/etc/shadow');
  });

  it('answers an unknown route with a 404 JSON body', async () => {
    const response = await fetch(`${url}/nope`);
    expect(response.status).to.equal(404);
    expect(await response.json()).to.deep.equal({ error: 'not_found', detail: 'no route for GET /nope' });
  });

  it('sets X-Request-Id, keeps a sane incoming one, and logs it', async () => {
    const fresh = await fetch(`${url}/health`);
    const id = fresh.headers.get('x-request-id');
    // A process prefix and a counter: a sane id by the same rule as incoming ones, new on every request.
    expect(id).to.match(/^[A-Za-z0-9._:-]{1,128}$/);
    const next = (await fetch(`${url}/health`)).headers.get('x-request-id');
    expect(next).to.match(/^[A-Za-z0-9._:-]{1,128}$/);
    expect(next).not.to.equal(id);
    const kept = await fetch(`${url}/health`, { headers: { 'x-request-id': 'trace-123' } });
    expect(kept.headers.get('x-request-id')).to.equal('trace-123');
    const hostile = await fetch(`${url}/health`, { headers: { 'x-request-id': 'a b <script>' } });
    expect(hostile.headers.get('x-request-id')).not.to.equal('a b <script>');
    expect(lines.some((l) => l.reqId === 'trace-123' && l.msg === 'request' && l.status === 200)).to.equal(true);
    expect(lines.some((l) => l.reqId === id)).to.equal(true);
  });

  it('never logs a key sent in the query string', async () => {
    await fetch(`${url}/health?api_key=super-secret-key-value&x=1`);
    const line = lines.find((l) => l.msg === 'request' && String(l.url).startsWith('/health?api_key'));
    expect(line?.url).to.equal('/health?api_key=[redacted]&x=1');
    expect(JSON.stringify(lines)).not.to.contain('super-secret-key-value');
  });

  it('authenticates through the authenticate hook and enforces scopes', async () => {
    const anon = await fetch(`${url}/admin-only`);
    expect(anon.status).to.equal(200);
    const client = await fetch(`${url}/admin-only`, { headers: { 'x-api-key': 'client-key' } });
    expect(client.status).to.equal(403);
    expect(await client.json()).to.deep.equal({ error: 'forbidden', detail: 'this route needs the admin scope' });
    const admin = await fetch(`${url}/admin-only`, { headers: { 'x-api-key': 'admin-key' } });
    expect(admin.status).to.equal(200);
    const wrong = await fetch(`${url}/admin-only`, { headers: { 'x-api-key': 'nope' } });
    expect(wrong.status).to.equal(401);
    expect(await wrong.json()).to.deep.equal({ error: 'unauthorized', detail: 'unknown key' });
    const publicRoute = await fetch(`${url}/health`, { headers: { 'x-api-key': 'nope' } });
    expect(publicRoute.status).to.equal(200);
  });

  it('records every mounted route with its plugin and scope', () => {
    const routes = app.routes().map((r) => `${r.plugin} ${r.method} ${r.path} ${r.scope}`);
    expect(routes).to.include.members(['util get /health public', 'echo post /echo client', 'echo get /admin-only admin']);
  });
});
