import { expect } from 'chai';
import { pino } from 'pino';
import { Type } from '@sinclair/typebox';
import { createApp } from '../core/app.js';
import { finishConfig } from '../core/config/schema.js';
import { definePlugin, type PluginManifest } from '../core/plugin.js';

/**
 * Types come from the schemas that validate: `ctx.options`, a handler's query and body are typed by
 * their TypeBox schemas. The @ts-expect-error lines are the type half of this test: `tsc --noEmit`
 * (part of `npm test`) fails if any of them stops being an error.
 */
const typed = definePlugin({
  name: 'typed',
  options: Type.Object({ greeting: Type.String({ default: 'hello' }), times: Type.Integer({ minimum: 1, default: 2 }) }, { additionalProperties: false }),
  register(ctx) {
    const times: number = ctx.options.times;
    // @ts-expect-error -- an option the schema does not declare
    void ctx.options.missing;
    ctx.route({
      method: 'post',
      path: '/typed',
      summary: 'typed',
      scope: 'public',
      query: Type.Object({ n: Type.Integer({ minimum: 1 }) }),
      body: Type.Object({ names: Type.Array(Type.String()) }, { additionalProperties: false }),
      handler(http, { query, body, principal }) {
        const n: number = query.n;
        // @ts-expect-error -- body.names is string[], not a string
        const wrong: string = body.names;
        void wrong;
        http.body = { text: body.names.map((name) => `${ctx.options.greeting} ${name}`).join(', ').repeat(times), n, caller: principal.id };
      },
    });
  },
}) as PluginManifest<never>;

describe('kernel: types from schemas', () => {
  it('gives a handler the validated, coerced query and body, and the plugin its defaulted options', async () => {
    const config = finishConfig({ server: { port: 0 }, plugins: { typed: { greeting: 'hi', times: 1 } } }, { cwd: process.cwd(), configDir: process.cwd() });
    const app = await createApp(config, { plugins: [typed], log: pino({ level: 'silent' }) });
    try {
      const { url } = await app.start();
      const ok = await fetch(`${url}/typed?n=3`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ names: ['a', 'b'] }) });
      expect(await ok.json()).to.deep.equal({ text: 'hi a, hi b', n: 3, caller: 'public' });
      const bad = await fetch(`${url}/typed?n=3`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ names: [1] }) });
      expect(bad.status).to.equal(400);
    } finally {
      await app.close();
    }
  });
});
