import { expect } from 'chai';
import { pino } from 'pino';
import { createApp, type BridgeApp } from '../core/app.js';
import { finishConfig } from '../core/config/schema.js';
import { definePlugin, type PluginManifest } from '../core/plugin.js';
import { QueryMemo } from '../lib/query-memo.js';

const quiet = pino({ level: 'silent' });

describe('QueryMemo: validated queries kept by their raw string', () => {
  it('hands out a new copy each time, so a change by one caller is not seen by the next', () => {
    const memo = new QueryMemo();
    const first = memo.keep('a=1', { a: 1 });
    first.a = 2;
    const second = memo.copy('a=1')!;
    expect(second).to.deep.equal({ a: 1 });
    second.b = 'x';
    expect(memo.copy('a=1')).to.deep.equal({ a: 1 });
    expect(memo.copy('a=2')).to.equal(undefined);
  });

  it('keeps only flat queries of short strings, and starts over when full', () => {
    const memo = new QueryMemo(2, 8);
    memo.keep('a=1&a=2', { a: ['1', '2'] });
    memo.keep('b=123456789', { b: '123456789' });
    expect(memo.copy('a=1&a=2')).to.equal(undefined);
    expect(memo.copy('b=123456789')).to.equal(undefined);
    memo.keep('x=1', { x: '1' });
    memo.keep('y=1', { y: '1' });
    expect(memo.copy('x=1')).to.deep.equal({ x: '1' });
    memo.keep('z=1', { z: '1' });
    expect(memo.copy('x=1')).to.equal(undefined);
    expect(memo.copy('z=1')).to.deep.equal({ z: '1' });
  });
});

describe('kernel: a route asked the same query string again', () => {
  let app: BridgeApp;
  let base: string;
  const seen: unknown[] = [];

  before(async () => {
    const plugin = definePlugin({
      name: 'echo',
      register(ctx) {
        ctx.route({
          method: 'get',
          path: '/echo',
          summary: 'echo',
          scope: 'public',
          query: { type: 'object', required: ['room'], properties: { room: { type: 'string', pattern: '^[a-z]+$' }, n: { type: 'integer' }, size: { type: 'string', default: 'small' } } },
          handler: (http, { query }) => {
            seen.push({ ...query });
            http.body = { query: { ...query }, same: query === http.state.query };
            // A handler may change what it was given: the next request must not see it.
            query.room = 'changed';
            delete query.n;
          },
        });
      },
    }) as PluginManifest<never>;
    app = await createApp(finishConfig({ server: { port: 0 }, plugins: {} }, { cwd: process.cwd(), configDir: process.cwd() }), { plugins: [plugin], log: quiet });
    base = (await app.start()).url;
  });
  after(() => app.close());

  it('answers each request with the query validated, coerced and defaulted, untouched by an earlier handler', async () => {
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${base}/echo?room=abc&n=3`);
      expect(response.status).to.equal(200);
      expect(await response.json()).to.deep.equal({ query: { room: 'abc', n: 3, size: 'small' }, same: true });
    }
    const other = await fetch(`${base}/echo?room=xyz&size=large`);
    expect(await other.json()).to.deep.equal({ query: { room: 'xyz', size: 'large' }, same: true });
  });

  it('refuses a bad query every time it is sent, and its handler never runs', async () => {
    const before = seen.length;
    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${base}/echo?room=ABC&n=3`);
      expect(response.status).to.equal(400);
      expect(((await response.json()) as { error: string }).error).to.equal('bad_request');
      const notNumber = await fetch(`${base}/echo?room=abc&n=1e1`);
      expect(notNumber.status).to.equal(400);
    }
    expect(seen.length).to.equal(before);
  });
});
