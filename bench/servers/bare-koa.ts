// Baselines for P2: the smallest Koa app, same Node, same machine. With BARE_BODIES (a JSON file of
// path → body) it answers each path with those exact bytes, so a route can be compared with a server
// that sends the same response and does nothing else.
import { readFileSync } from 'node:fs';
import Koa from 'koa';

const bodies = process.env.BARE_BODIES ? (JSON.parse(readFileSync(process.env.BARE_BODIES, 'utf8')) as Record<string, string>) : {};
const app = new Koa();
app.use((ctx) => {
  const body = bodies[ctx.path];
  if (body === undefined) ctx.body = { status: 'ok' };
  else {
    ctx.type = 'application/json';
    ctx.body = body;
  }
});
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address() as { port: number };
  process.stdout.write(`LISTENING http://127.0.0.1:${address.port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
