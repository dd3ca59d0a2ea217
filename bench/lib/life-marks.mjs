// Preloaded into the bridge process by bench/p9-marks.ts (`node --import <this file>`): records the time of
// every mark of a generation's life (contracts/life-marks.ts) and of node's own HTTP steps (its built-in
// diagnostics channels), and writes them to BENCH_LIFE_MARKS as [name, ms, name, ms, …] when the process exits.
// Plain JavaScript: it loads before tsx.
import { subscribe } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';

const out = process.env.BENCH_LIFE_MARKS;
const marks = [];
const mark = (name) => marks.push(name, performance.now());
const route = (path) => (path ?? '').split('?')[0].replace(/[0-9a-f-]{36}/g, ':id').replace(/gen_[\w-]+/g, ':id');

if (out) {
  subscribe('comfy-bridge:life', (step) => mark(step));
  // A request to the bridge, its headers read (its body not yet).
  // When the request's bytes were read from its socket (before node parsed them), kept per socket.
  const bytesAt = new WeakMap();
  subscribe('http.server.request.start', ({ request, response, socket }) => {
    const name = `${request.method} ${route(request.url)}`;
    if (!bytesAt.has(socket)) socket.prependListener('data', () => bytesAt.set(socket, performance.now()));
    const read = bytesAt.get(socket);
    mark(`in: ${name}`);
    if (read !== undefined) marks.push(`in: ${name} bytes read`, read);
    // The answer handed to the kernel (its last bytes written to the socket).
    response.once('finish', () => mark(`in: ${name} answered`));
  });
  // A request the bridge makes (POST /prompt, GET /view): created, written to its socket, answered.
  subscribe('http.client.request.start', ({ request }) => {
    const name = `${request.method} ${route(request.path)}`;
    mark(`out: ${name}`);
    request.once('socket', () => mark(`out: ${name} socket`));
    request.once('finish', () => mark(`out: ${name} written`));
    request.once('response', () => mark(`out: ${name} answered`));
  });
  process.on('exit', () => writeFileSync(out, JSON.stringify(marks)));
}
