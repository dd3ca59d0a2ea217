/**
 * Baseline for the P3 fan-out: the least a websocket server can do per progress frame — encode a
 * frame of the bridge's shape and size and `ws.send` it — with no generations, storage or hub; and the
 * contract's frames that are not progress, as the bridge sends them (`connected`, the `listening` heartbeat).
 * Same ws library, Node, pinning and IPC protocol as bench/servers/fanout-bridge.ts ('start' is a
 * no-op here: there is nothing to submit).
 * With `--write` (BENCH_P3_BARE_WRITE=1 in bench/p3-fanout.ts) it writes each frame as the bridge's ws hub
 * does since wave 7: header and payload built into one Buffer and written to the socket in one call,
 * instead of ws.send (a header per send, two chunks, one writev).
 */
import { createServer } from 'node:http';
import * as wsModule from 'ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { FanoutCommand, ProgressAnswer, StartedAnswer } from './fanout-bridge.js';
import { withLoopDelay } from './loop-delay.js';
import { monotonicMs } from './synthetic-transport.js';

const sockets = new Map<number, WebSocket>();
const server = createServer((_req, res) => res.writeHead(426).end());
const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: false });
wss.on('connection', (ws, req) => {
  const index = Number(/-(\d+)$/.exec(new URL(req.url ?? '/', 'http://x').searchParams.get('clientId') ?? '')?.[1]);
  sockets.set(index, ws);
  ws.on('close', () => sockets.get(index) === ws && sockets.delete(index));
  ws.send(JSON.stringify({ status: 'connected', details: 'server connected' }));
});

const tick = () => new Promise((resolve) => setImmediate(resolve));
const iso = new Date().toISOString();

/** What the bridge sends for a running generation: the same keys, and values of the same lengths (an id of `gen_` and 24 characters), so a frame has the bridge's size to the byte. */
function frame(index: number, seq: number, step: number, rounds: number): Buffer {
  const percent = Math.floor(((step / rounds) * 50 * 100) + 1e-7) / 100;
  return Buffer.from(
    JSON.stringify({
      status: 'progress',
      details: `${percent.toFixed(2)}%`,
      seq,
      data: {
        id: `gen_${String(index).padStart(24, '0')}`,
        workflow: 'fanout',
        state: 'running',
        position: 0,
        percent,
        node: '1',
        step,
        max_steps: rounds,
        result_urls: [],
        error_message: null,
        queued_at: iso,
        started_at: iso,
        finished_at: null,
      },
    }),
  );
}

const WRITE = process.argv.includes('--write');

/** ws's framer (exported by ws, not declared by its types). */
const { Sender } = wsModule as unknown as { Sender: { frame(data: Buffer, options: object): Buffer[] } };
const TEXT_FRAME = { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false };

/** The frame as ws.send writes it (ws's own header), in one Buffer, written straight to ws's socket (`_socket`, ws's private field). */
function writeFrame(ws: WebSocket, payload: Buffer): void {
  (ws as unknown as { _socket: { write(bytes: Buffer): unknown } })._socket.write(Buffer.concat(Sender.frame(payload, TEXT_FRAME)));
}

/**
 * The contract's heartbeat (docs/websocket.md), as the bridge sends it: `listening` to every socket every
 * second (the ws plugin's default heartbeatMs), so both servers send the same frames to the same sockets
 * over a run (until wave 9 only the bridge did: 1,000 sends a second, 2–5 % of its sends in a saturated run).
 */
const LISTENING = Buffer.from(JSON.stringify({ status: 'listening', details: 'server is listening' }));
setInterval(() => {
  for (const ws of sockets.values()) {
    if (ws.readyState !== ws.OPEN) continue;
    if (WRITE) writeFrame(ws, LISTENING);
    else ws.send(LISTENING, { binary: false });
  }
}, 1000).unref();

async function progress(clients: number, rounds: number, intervalMs = 0): Promise<ProgressAnswer> {
  const stamps = new Array<number>(clients * rounds);
  const cpu = process.cpuUsage();
  const started = monotonicMs();
  for (let step = 1; step <= rounds; step++) {
    for (let i = 0; i < clients; i++) {
      stamps[i * rounds + step - 1] = monotonicMs();
      const ws = sockets.get(i);
      if (ws && WRITE) writeFrame(ws, frame(i, step, step, rounds));
      else ws?.send(frame(i, step, step, rounds), { binary: false });
    }
    await (intervalMs > 0 ? new Promise((resolve) => setTimeout(resolve, intervalMs)) : tick());
  }
  const bridgeMs = monotonicMs() - started;
  const used = process.cpuUsage(cpu);
  for (const ws of sockets.values()) ws.close(1000, 'generation ended');
  return { cmd: 'progressed', stamps, bridgeMs, cpuMs: (used.user + used.system) / 1000 };
}

process.on('message', (message: FanoutCommand) => {
  if (message.cmd === 'start') {
    process.send!({ cmd: 'started' } satisfies StartedAnswer);
    return;
  }
  void withLoopDelay(() => progress(message.clients, message.rounds, message.intervalMs)).then((answer) => process.send!(answer));
});

server.listen(0, '127.0.0.1', () => {
  const address = server.address() as { port: number };
  process.stdout.write(`LISTENING http://127.0.0.1:${address.port}\n`);
});
process.on('SIGTERM', () => {
  wss.close();
  server.close(() => process.exit(0));
});
