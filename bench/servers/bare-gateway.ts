/**
 * Baseline for P9 (bench/p9-lifecycle.ts, BENCH_P9_BARE_GATEWAY): the least a Node gateway can do for a generation's
 * durable job, the way the bridge does it, with node:http and ws only (docs/performance.md, "The floor under a
 * generation: a bare durable gateway, wave 14"). It tells which part of P9's targets this host's Node, HTTP, ws and
 * file calls already cost, so the bridge's own gap is read over it.
 *
 * A generation's life here, in the bridge's order of I/O:
 *  1. POST /generate-based-workflow?clientId=X with `{"workflow", "<node>/<input>": value, …}`: JSON.parse, the
 *     registered workflow copied and its inputs set from the body (no check of any kind).
 *  2. Its `queued` row (with the prompt, which a restart resubmits from) appended to the datafile and fdatasynced:
 *     nothing reaches ComfyUI before the row is on disk (a crash in between would leave a prompt nothing knows).
 *  3. POST /prompt to the backend (keep-alive agent, the gateway's own client_id, a prompt_id minted here), then the
 *     answer the bridge gives: `{id, clientId, workflow, status: 'queued', position, detail}`.
 *  4. One websocket to the backend (/ws?clientId=<the gateway's>); its events routed by prompt_id:
 *     - `execution_start`: the `running` frame; the result folder made and its name synced (results/ fsynced), as
 *       the bridge's `prepare` does while the prompt runs;
 *     - `executed`: each output fetched at once with GET /view (the bridge's copy ahead) and made durable:
 *       `log` (default, the bridge's default since wave 12): its bytes appended to a write-ahead log of zeros
 *       written and synced ahead, at a 4 KiB-aligned offset, and fdatasynced; the file itself is written at its
 *       name after `closed` (create, write, fdatasync, fsync of its folder), off the generation's way;
 *       `files` (BARE_GATEWAY_RESULTS=files, the bridge with `results.logBytes: 0`): create, write, fdatasync, fsync
 *       of its folder, before the row;
 *     - `execution_success`: once the outputs are durable, the final row appended and fdatasynced, then the
 *       frames the bridge sends at the end (`progress` 100 %, `closed` with the result URLs).
 *  The datafile is a file of zeros written and synced ahead too (the bridge's "zeroed tail", wave 9): an append
 *  changes neither its size nor its block map, so its fdatasync waits for no ext4 journal commit. Rows are not
 *  group-committed: each append has its own fdatasync (at c=8 several run at once in libuv's pool).
 *
 * What the bridge does beyond this (its price of features): the schema and input validation (types, ranges,
 * uploads, capabilities), auth and API keys, quotas and per-client caps, idempotency keys, webhooks and their
 * outbox, metrics (prom-client), request ids and access logs, the nedb store (an in-memory database with indexes,
 * whole rows per line, compaction, a `running` row and a position row written behind), the bus (numbered frames, a
 * replay ring for reconnecting clients, fleet delivery), the ws hub's clientId ownership and slow-client limits,
 * multiple backends (choice, capabilities, object_info), reconciliation and recovery after a restart (history
 * reads, resubmission, abandoned prompts), the results log's replay and segment reuse (this log grows instead),
 * result routes, ComfyUI errors mapped to answers, and graceful shutdown. None of that is durability: a generation
 * answered `queued` here is on disk, and a result file is durable before the row that names it.
 *
 * Env: BENCH_BACKENDS (one ComfyUI url), BENCH_DATA_DIR (made if missing), BARE_GATEWAY_WORKFLOWS (a folder of
 * `<alias>.json` API graphs, as the workflows plugin reads them), BARE_GATEWAY_RESULTS (`log` or `files`),
 * BARE_GATEWAY_SYNC=0 (no fdatasync or fsync at all: not durable; it splits the floor into Node's part and the disk's).
 * Prints `LISTENING <url>` (bench/lib/process.ts).
 */
import { randomUUID } from 'node:crypto';
import { close, closeSync, constants, fdatasync, fsync, fsyncSync, mkdir, mkdirSync, open, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { WebSocket, WebSocketServer } from 'ws';
import { syncDirectory } from '../../contracts/directory-sync.js';

const backend = (process.env.BENCH_BACKENDS ?? 'http://127.0.0.1:8188').split(',')[0]!;
const dataDir = process.env.BENCH_DATA_DIR ?? '.tmp/bare-gateway';
const workflowsDir = process.env.BARE_GATEWAY_WORKFLOWS ?? join(dataDir, 'workflows');
const resultsThroughLog = (process.env.BARE_GATEWAY_RESULTS ?? 'log') !== 'files';
const resultsDir = join(dataDir, 'results');
mkdirSync(resultsDir, { recursive: true });

// The callback forms of the file calls (fs/promises' FileHandle adds a promise and an object per call).
// BARE_GATEWAY_SYNC=0: every write made, none synced (not durable against a power loss): what the syncs cost here.
const synced = process.env.BARE_GATEWAY_SYNC !== '0';
const skipped = (): Promise<void> => Promise.resolve();
const fdatasyncAsync = synced ? promisify(fdatasync) : skipped;
const fsyncAsync = synced ? promisify(fsync) : skipped;
const mkdirAsync = promisify(mkdir);
const openAsync = promisify(open);
const closeAsync = promisify(close);

/** The registered workflows, by alias: their API graphs as text, parsed again for each generation (a deep copy). */
const workflows = new Map<string, string>();
for (const file of readdirSync(workflowsDir)) if (file.endsWith('.json')) workflows.set(file.slice(0, -5), readFileSync(join(workflowsDir, file), 'utf8'));

/**
 * A file written with zeros and synced ahead, appended to with pwrite at the end of its data and fdatasynced: the
 * datafile and the results log. When an append would pass its end, another chunk of zeros is written first (rare:
 * 16 MiB a chunk); that append's fdatasync then carries the new size (a size change is what fdatasync does commit).
 */
class ZeroedFile {
  static readonly CHUNK = 16 * 1024 * 1024;
  readonly fd: number;
  #end = 0;
  #size = 0;

  constructor(path: string) {
    this.fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC);
    this.#grow(ZeroedFile.CHUNK);
    fsyncSync(this.fd);
  }

  /** Writes `bytes` at the end of the data (at a multiple of `align`), then fdatasyncs; resolves once on disk. */
  append(bytes: Buffer, align = 1): Promise<void> {
    const at = Math.ceil(this.#end / align) * align;
    if (at + bytes.length > this.#size) this.#grow(Math.max(ZeroedFile.CHUNK, bytes.length));
    this.#end = at + bytes.length;
    // The pwrite only copies into the page cache: on the loop (the bridge's appender does the same); the sync waits
    // for the disk, in libuv's pool.
    writeSync(this.fd, bytes, 0, bytes.length, at);
    return fdatasyncAsync(this.fd);
  }

  #grow(length: number): void {
    const zeros = Buffer.alloc(length);
    for (let written = 0; written < length; ) written += writeSync(this.fd, zeros, written, length - written, this.#size + written);
    this.#size += length;
  }
}

const datafile = new ZeroedFile(join(dataDir, 'generations.db'));
const resultLog = resultsThroughLog ? new ZeroedFile(join(dataDir, 'results.wal')) : undefined;
// The files' and results/'s own names synced once, before any answer relies on them.
for (const dir of [dataDir, resultsDir]) {
  const fd = openSync(dir, constants.O_RDONLY);
  await fsyncAsync(fd);
  closeSync(fd);
}

const appendRow = (row: object) => datafile.append(Buffer.from(`${JSON.stringify(row)}\n`));

/** fsync of a folder: a name made or changed in it is on disk (the bridge's own helper: the open and close on the loop). */
const syncFolder = (path: string): Promise<void> => (synced ? syncDirectory(path, true) : skipped());

/** A file created, written whole and fdatasynced, then its folder fsynced: the result at its name, durable. */
async function writeDurableFile(folder: string, name: string, bytes: Buffer): Promise<void> {
  const fd = await openAsync(join(folder, name), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC);
  try {
    writeSync(fd, bytes, 0, bytes.length, 0);
    await fdatasyncAsync(fd);
  } finally {
    await closeAsync(fd);
  }
  await syncFolder(folder);
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** One HTTP call to the backend: its status and whole body. */
function backendCall(method: string, path: string, body?: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    const req = request(`${backend}${path}`, { method, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end(body);
  });
}

interface Output {
  filename: string;
  subfolder: string;
  type: string;
}

/** A generation in flight, found by its prompt_id when the backend's events come. */
interface Generation {
  id: string;
  clientId: string;
  workflow: string;
  createdAt: string;
  startedAt: string | null;
  position: number;
  /** Its graph's node count, and the nodes ComfyUI started so far (the progress frames' percent). */
  nodes: number;
  started: number;
  /** results/<id>, made and its name synced at `execution_start`. */
  folder: Promise<string> | undefined;
  /** Each output's copy: fetched, and durable (in the log, or as its file) once it resolves. */
  copies: Promise<{ filename: string; bytes: Buffer }>[];
}
const byPrompt = new Map<string, Generation>();

/** The client sockets by clientId (a client may hold several). */
const clients = new Map<string, Set<WebSocket>>();

/**
 * A frame to the generation's client, as the bridge sends them (SPEC §2.1; the same keys, encoded once for all of the
 * clientId's sockets) and when: `queued` once its row is on disk, `running` at execution_start, a progress frame at
 * each node ComfyUI starts after the first, 100 % and `closed` at the end: five for P9's two-node workflow, as the
 * bridge's.
 */
function sendFrame(gen: Generation, frame: { status: string; details: string; state: string; percent: number; node?: string; resultUrls: string[] }): void {
  const sockets = clients.get(gen.clientId);
  if (!sockets) return;
  const text = JSON.stringify({
    status: frame.status,
    details: frame.details,
    data: {
      id: gen.id,
      workflow: gen.workflow,
      state: frame.state,
      position: gen.position,
      percent: frame.percent,
      node: frame.node ?? null,
      step: null,
      max_steps: null,
      result_urls: frame.resultUrls,
      error_message: null,
      queued_at: gen.createdAt,
      started_at: gen.startedAt,
      finished_at: frame.state === 'completed' ? new Date().toISOString() : null,
    },
  });
  for (const ws of sockets) ws.send(text);
}

function answer(res: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) }).end(text);
}

let origin = '';
const gatewayClientId = `bare-gateway-${randomUUID()}`;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
}

/** POST /generate-based-workflow: steps 1–3 of the header. */
async function generate(req: IncomingMessage, res: ServerResponse, clientId: string): Promise<void> {
  const body = JSON.parse(await readBody(req)) as Record<string, unknown>;
  const workflow = String(body.workflow);
  const graphText = workflows.get(workflow);
  if (graphText === undefined) return answer(res, 404, { error: 'not_found', detail: `no workflow ${workflow}` });
  const graph = JSON.parse(graphText) as Record<string, { inputs: Record<string, unknown> }>;
  for (const key in body) {
    const slash = key.indexOf('/');
    if (slash > 0) graph[key.slice(0, slash)]!.inputs[key.slice(slash + 1)] = body[key];
  }
  // Its position: the generations this gateway has in flight before it (the bridge asks its queue; nothing here).
  const position = byPrompt.size;
  const gen: Generation = { id: `gen_${randomUUID()}`, clientId, workflow, createdAt: new Date().toISOString(), startedAt: null, position, nodes: Object.keys(graph).length, started: 0, folder: undefined, copies: [] };
  const promptId = randomUUID();
  await appendRow({ id: gen.id, promptId, clientId, workflow, state: 'queued', graph, createdAt: gen.createdAt });
  byPrompt.set(promptId, gen);
  sendFrame(gen, { status: 'progress', details: '0.00%', state: 'queued', percent: 0, resultUrls: [] });
  const submitted = await backendCall('POST', '/prompt', JSON.stringify({ prompt: graph, client_id: gatewayClientId, prompt_id: promptId }));
  if (submitted.status !== 200) {
    byPrompt.delete(promptId);
    return answer(res, 502, { error: 'backend_refused', detail: submitted.body.toString('utf8') });
  }
  answer(res, 200, { id: gen.id, clientId, workflow, status: 'queued', position: gen.position, detail: `queued / ${gen.position}` });
}

/** The result folder of a generation, made and its name synced (the bridge's `prepare`, while the prompt runs). */
async function makeFolder(gen: Generation): Promise<string> {
  const folder = join(resultsDir, gen.id);
  await mkdirAsync(folder);
  await syncFolder(resultsDir);
  return folder;
}

/** An output fetched from the backend and made durable before anything names it (header, step 4). */
async function copyOutput(gen: Generation, output: Output): Promise<{ filename: string; bytes: Buffer }> {
  const query = new URLSearchParams({ filename: output.filename, subfolder: output.subfolder, type: output.type });
  const [view, folder] = await Promise.all([backendCall('GET', `/view?${query}`), (gen.folder ??= makeFolder(gen))]);
  if (view.status !== 200) throw new Error(`GET /view answered ${view.status}`);
  if (resultLog) {
    // The log's record: the key as a header line, then the bytes (the bridge adds a CRC for its replay).
    const key = Buffer.from(`${JSON.stringify({ key: `results/${gen.id}/${output.filename}`, length: view.body.length })}\n`);
    await resultLog.append(Buffer.concat([key, view.body]), 4096);
  } else {
    await writeDurableFile(folder, output.filename, view.body);
  }
  return { filename: output.filename, bytes: view.body };
}

/** execution_success: the outputs durable, then the final row, then the end's frames (header, step 4). */
async function settle(promptId: string, gen: Generation): Promise<void> {
  const results = await Promise.all(gen.copies);
  const finishedAt = new Date().toISOString();
  await appendRow({ id: gen.id, state: 'completed', results: results.map((r) => r.filename), finishedAt });
  byPrompt.delete(promptId);
  const resultUrls = results.map((r) => `${origin}/results/${gen.id}/${r.filename}`);
  sendFrame(gen, { status: 'progress', details: '100.00%', state: 'completed', percent: 100, resultUrls });
  sendFrame(gen, { status: 'closed', details: 'Execution is done', state: 'completed', percent: 100, resultUrls });
  // With the log, the files at their names are written after the end, off the generation's way (the bridge does
  // this beside the log's sync, then releases the record).
  if (resultLog) {
    const folder = await gen.folder!;
    for (const r of results) await writeDurableFile(folder, r.filename, r.bytes);
  }
}

function onBackendMessage(data: Buffer, isBinary: boolean): void {
  // Binary messages are previews; ComfyUI's per-node progress_state is the only text message of a run that nothing
  // here needs (the bridge skips it by the same prefix test).
  if (isBinary || data.includes('"progress_state"', 0)) return;
  const message = JSON.parse(data.toString('utf8')) as { type: string; data: { prompt_id?: string; output?: { images?: Output[] } } };
  const promptId = message.data?.prompt_id;
  const gen = promptId === undefined ? undefined : byPrompt.get(promptId);
  if (!gen) return;
  switch (message.type) {
    case 'execution_start':
      gen.startedAt = new Date().toISOString();
      gen.folder ??= makeFolder(gen);
      sendFrame(gen, { status: 'progress', details: '0.00%', state: 'running', percent: 0, resultUrls: [] });
      return;
    case 'executing': {
      const node = (message.data as { node?: string | null }).node;
      if (typeof node !== 'string' || ++gen.started === 1) return;
      const percent = Math.round(((gen.started - 1) / gen.nodes) * 10_000) / 100;
      sendFrame(gen, { status: 'progress', details: `${percent.toFixed(2)}%`, state: 'running', percent, node, resultUrls: [] });
      return;
    }
    case 'executed':
      for (const output of message.data.output?.images ?? []) if (output.type === 'output') gen.copies.push(copyOutput(gen, output));
      return;
    case 'execution_success':
      settle(promptId!, gen).catch((error: unknown) => process.stderr.write(`settle failed: ${String(error)}\n`));
      return;
    default:
      return;
  }
}

const backendSocket = new WebSocket(`${backend.replace(/^http/, 'ws')}/ws?clientId=${gatewayClientId}`, { perMessageDeflate: false });
backendSocket.on('message', onBackendMessage);
await new Promise<void>((resolve, reject) => {
  backendSocket.once('open', () => resolve());
  backendSocket.once('error', reject);
});

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (req.method === 'POST' && url.pathname === '/generate-based-workflow') {
    generate(req, res, url.searchParams.get('clientId') ?? '').catch((error: unknown) => answer(res, 500, { error: 'internal', detail: String(error) }));
  } else if (url.pathname === '/ready') {
    answer(res, 200, { status: 'ready' });
  } else {
    answer(res, 404, { error: 'not_found', detail: url.pathname });
  }
});
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });
server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const clientId = url.searchParams.get('clientId');
  if (url.pathname !== '/ws' || !clientId) return socket.destroy();
  wss.handleUpgrade(req, socket, head, (ws) => {
    const sockets = clients.get(clientId) ?? new Set<WebSocket>();
    clients.set(clientId, sockets.add(ws));
    ws.on('close', () => {
      sockets.delete(ws);
      if (sockets.size === 0 && clients.get(clientId) === sockets) clients.delete(clientId);
    });
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  origin = `http://127.0.0.1:${port}`;
  process.stdout.write(`LISTENING ${origin}\n`);
});
process.on('SIGTERM', () => {
  backendSocket.terminate();
  agent.destroy();
  server.close();
  process.exit(0);
});
