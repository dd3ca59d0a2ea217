import { randomUUID } from 'node:crypto';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { parseForm } from './multipart.js';
import { NODE_CLASSES } from './node-registry.js';
import type { NodeEnv } from './node-types.js';
import type { QueueItem } from './prompt-queue.js';
import { PyFloat, parsePyJson, plain, pyDumps, type PyValue } from './py-json.js';
import type { ComfyRuntime } from './runtime.js';
import { validatePrompt, type RawPrompt } from './validate.js';
import { SERVER_FEATURES } from './ws-hub.js';
import { jobsRoutes } from './jobs-api.js';

/** The HTTP routes of PromptServer (server.py), same paths with and without the /api prefix. */

export interface RouteContext {
  runtime: ComfyRuntime;
  env: NodeEnv;
  hasJobsApi: boolean;
  onPrompt(record: { promptId: string; clientId: string | null; graph: Record<string, unknown>; accepted: boolean }): void;
  onUpload(name: string, data: Buffer): void;
  /** A GET /view asked for this file name (as sent, before any check). */
  onView(filename: string): void;
}

const SERVER_HEADER = 'Python/3.11 aiohttp/3.8.4';
const SENSITIVE_EXTRA_DATA_KEYS = ['auth_token_comfy_org', 'api_key_comfy_org'];

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(pyDumps(value), 'utf8');
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.length, Server: SERVER_HEADER });
  res.end(body);
}

export function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'Content-Length': 0, 'Content-Type': 'application/octet-stream', Server: SERVER_HEADER });
  res.end();
}

function sendText(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  const body = Buffer.from(text, 'utf8');
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length, Server: SERVER_HEADER, ...extra });
  res.end(body);
}

/** aiohttp's answer to an unhandled exception in a handler (e.g. request.json() on a non-JSON body). */
function send500(res: ServerResponse): void {
  sendText(res, 500, '500 Internal Server Error\n\nServer got itself in trouble', { Connection: 'close' });
}

class BadJson extends Error {}

function jsonBody(body: Buffer): PyValue {
  try {
    return parsePyJson(body.toString('utf8'));
  } catch {
    throw new BadJson();
  }
}

const isObject = (v: PyValue): v is Record<string, PyValue> => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof PyFloat);

/** origin_only_middleware: a loopback Host with a different Origin is refused with 403. */
export function crossOrigin(req: IncomingMessage): boolean {
  const host = req.headers.host?.toLowerCase();
  const origin = req.headers.origin;
  if (!host || !origin) return false;
  let originUrl: URL;
  let hostUrl: URL;
  try {
    originUrl = new URL(origin);
    hostUrl = new URL(`http://${host}`);
  } catch {
    return false;
  }
  const hostname = hostUrl.hostname.replace(/^\[|\]$/g, '');
  const loopback = hostname === 'localhost' || hostname.startsWith('127.') || hostname === '::1';
  let hostDomain = host;
  let originDomain = originUrl.host.toLowerCase();
  if (originUrl.port === '') hostDomain = hostUrl.hostname;
  if (hostUrl.port === '') originDomain = originUrl.hostname;
  return loopback && hostDomain.length > 0 && originDomain.length > 0 && hostDomain !== originDomain;
}

const MIME: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp', '.json': 'application/json', '.txt': 'text/plain', '.mp4': 'video/mp4', '.webm': 'video/webm', '.wav': 'audio/x-wav', '.mp3': 'audio/mpeg', '.flac': 'audio/flac' };

function dirByType(env: NodeEnv, type: string): string | null {
  return type === 'input' ? env.inputDir : type === 'output' ? env.outputDir : type === 'temp' ? env.tempDir : null;
}

function inside(dir: string, target: string): boolean {
  const rel = path.relative(dir, target);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function postPrompt(ctx: RouteContext, res: ServerResponse, body: Buffer): void {
  const json = jsonBody(body);
  if (!isObject(json)) throw new BadJson();
  const { runtime, env } = ctx;
  let number: number | PyFloat;
  if ('number' in json) {
    const n = json.number instanceof PyFloat ? json.number.value : Number(json.number);
    if (!Number.isFinite(n)) throw new BadJson();
    number = new PyFloat(n);
  } else {
    number = runtime.number;
    if ('front' in json && json.front) number = -number;
    runtime.number += 1;
  }
  if (!('prompt' in json)) {
    sendJson(res, 400, { error: { type: 'no_prompt', message: 'No prompt provided', details: 'No prompt provided', extra_info: {} }, node_errors: {} });
    return;
  }
  const prompt = json.prompt;
  if (!isObject(prompt)) throw new BadJson();
  const promptId = 'prompt_id' in json ? (typeof json.prompt_id === 'string' ? json.prompt_id : pyDumps(json.prompt_id)) : randomUUID();
  const targets = 'partial_execution_targets' in json && Array.isArray(json.partial_execution_targets) ? json.partial_execution_targets : null;
  const valid = validatePrompt(prompt as RawPrompt, targets, env);
  const extraData: Record<string, PyValue> = isObject(json.extra_data ?? null) ? { ...(json.extra_data as Record<string, PyValue>) } : {};
  if ('client_id' in json) extraData.client_id = json.client_id;
  const clientId = typeof extraData.client_id === 'string' ? extraData.client_id : null;
  ctx.onPrompt({ promptId, clientId, graph: plain(prompt), accepted: valid.ok });
  if (!valid.ok) {
    sendJson(res, 400, { error: valid.error, node_errors: valid.nodeErrors });
    return;
  }
  const sensitive: Record<string, PyValue> = {};
  for (const key of SENSITIVE_EXTRA_DATA_KEYS) {
    if (key in extraData) {
      sensitive[key] = extraData[key];
      delete extraData[key];
    }
  }
  const item: QueueItem = [number, promptId, prompt, extraData, valid.outputs, sensitive];
  runtime.put(item);
  sendJson(res, 200, { prompt_id: promptId, number, node_errors: valid.nodeErrors });
}

function getHistory(ctx: RouteContext, res: ServerResponse, query: URLSearchParams): void {
  const maxItems = query.has('max_items') ? Number.parseInt(query.get('max_items') as string, 10) : null;
  let offset = query.has('offset') ? Number.parseInt(query.get('offset') as string, 10) : -1;
  if ((maxItems !== null && Number.isNaN(maxItems)) || Number.isNaN(offset)) {
    send500(res);
    return;
  }
  const entries = [...ctx.runtime.history.entries()];
  if (offset < 0 && maxItems !== null) offset = entries.length - maxItems;
  const out: Record<string, unknown> = {};
  let count = 0;
  for (let i = 0; i < entries.length; i++) {
    if (i < offset) continue;
    out[entries[i][0]] = entries[i][1];
    count++;
    if (maxItems !== null && count >= maxItems) break;
  }
  sendJson(res, 200, out);
}

function uploadImage(ctx: RouteContext, req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  const parts = parseForm(req.headers['content-type'], body);
  const field = (name: string): string | undefined => parts.find((p) => p.name === name && p.filename === undefined)?.data.toString('utf8');
  const image = parts.find((p) => p.name === 'image' && p.filename !== undefined);
  const type = field('type') ?? 'input';
  const dir = dirByType(ctx.env, type);
  if (!dir) {
    send500(res); // os.path.join(None, ...) raises in the real server
    return;
  }
  if (!image || !image.filename) {
    sendEmpty(res, 400);
    return;
  }
  const subfolder = field('subfolder') ?? '';
  const folder = path.join(dir, path.normalize(subfolder));
  let filename = image.filename;
  let filepath = path.resolve(folder, filename);
  if (!inside(dir, filepath) || !inside(dir, folder)) {
    sendEmpty(res, 400);
    return;
  }
  mkdirSync(path.dirname(filepath), { recursive: true });
  const overwrite = field('overwrite');
  const ext = path.extname(image.filename);
  const stem = image.filename.slice(0, image.filename.length - ext.length);
  let duplicate = false;
  if (overwrite !== 'true' && overwrite !== '1') {
    const digest = createHash('sha256').update(image.data).digest('hex');
    for (let i = 1; existsSync(filepath); i++) {
      if (createHash('sha256').update(readFileSync(filepath)).digest('hex') === digest) {
        duplicate = true;
        break;
      }
      filename = `${stem} (${i})${ext}`;
      filepath = path.join(folder, filename);
    }
  }
  if (!duplicate) writeFileSync(filepath, image.data);
  ctx.onUpload(subfolder ? `${subfolder}/${filename}` : filename, image.data);
  sendJson(res, 200, { name: filename, subfolder, type });
}

function view(ctx: RouteContext, req: IncomingMessage, res: ServerResponse, query: URLSearchParams): void {
  const raw = query.get('filename');
  ctx.onView(raw ?? '');
  if (raw === null) {
    sendEmpty(res, 404);
    return;
  }
  const annotated = /^(.*) \[(input|output|temp)\]$/.exec(raw);
  const filename = annotated ? annotated[1] : raw;
  if (!filename) return sendEmpty(res, 400);
  if (filename.startsWith('/') || filename.includes('..')) return sendEmpty(res, 400);
  let dir = dirByType(ctx.env, annotated ? annotated[2] : query.get('type') ?? 'output');
  if (!dir) return sendEmpty(res, 400);
  if (query.has('subfolder')) {
    const full = path.resolve(dir, query.get('subfolder') as string);
    if (!inside(dir, full)) return sendEmpty(res, 403);
    dir = full;
  }
  const base = path.basename(filename);
  const file = path.join(dir, base);
  if (!existsSync(file) || !statSync(file).isFile()) return sendEmpty(res, 404);
  const data = readFileSync(file);
  const stat = statSync(file);
  let contentType = MIME[path.extname(base).toLowerCase()] ?? 'application/octet-stream';
  if (['text/html', 'text/javascript', 'text/css'].includes(contentType)) contentType = 'application/octet-stream';
  res.writeHead(200, {
    'Content-Disposition': `filename="${base}"`,
    'Content-Type': contentType,
    Etag: `"${stat.mtimeMs.toString(16).replace('.', '')}-${stat.size.toString(16)}"`,
    'Last-Modified': stat.mtime.toUTCString(),
    'Content-Length': data.length,
    'Accept-Ranges': 'bytes',
    Server: SERVER_HEADER,
  });
  res.end(req.method === 'HEAD' ? undefined : data);
}

const SYSTEM_STATS = {
  system: {
    os: 'posix',
    ram_total: 25276510208,
    ram_free: 24367140864,
    comfyui_version: '0.3.64',
    required_frontend_version: '1.27.10',
    installed_templates_version: null,
    required_templates_version: '0.1.95',
    python_version: '3.11.2 (main, Apr 28 2025, 14:11:48) [GCC 12.2.0]',
    pytorch_version: '1.13.0a0',
    embedded_python: false,
    argv: ['main.py', '--cpu', '--listen', '127.0.0.1', '--port', '8188', '--disable-api-nodes', '--disable-all-custom-nodes'],
  },
  devices: [{ name: 'cpu', type: 'cpu', index: null, vram_total: 25276510208, vram_free: 24367140864, torch_vram_total: 25276510208, torch_vram_free: 24367140864 }],
};

const MODEL_FOLDERS = ['checkpoints', 'configs', 'loras', 'vae', 'text_encoders', 'diffusion_models', 'clip_vision', 'style_models', 'embeddings', 'diffusers', 'vae_approx', 'controlnet', 'gligen', 'upscale_models', 'custom_nodes', 'hypernetworks', 'photomaker', 'classifiers', 'model_patches', 'audio_encoders'];

const INDEX_HTML = '<!doctype html><title>ComfyUI (fake)</title><p>Fake ComfyUI for tests; only the HTTP/WebSocket API is available.</p>\n';

export function handleRequest(ctx: RouteContext, req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  try {
    route(ctx, req, res, body);
  } catch (err) {
    // like aiohttp: a handler exception becomes a 500; unexpected ones are also shown for debugging
    if (!(err instanceof BadJson)) process.stderr.write(`fake ComfyUI: ${(err as Error).stack ?? String(err)}\n`);
    if (!res.headersSent) send500(res);
    else res.end();
  }
}

function route(ctx: RouteContext, req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  if (crossOrigin(req)) return sendEmpty(res, 403);
  const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
  if (method === 'OPTIONS') return sendEmpty(res, 200);
  const url = new URL(req.url ?? '/', 'http://localhost');
  let p = url.pathname;
  if (ctx.hasJobsApi && p.startsWith('/api/jobs')) {
    if (jobsRoutes(ctx.runtime, method, p, url.searchParams, res)) return;
  }
  if (p.startsWith('/api/')) p = p.slice(4);
  const { runtime, env } = ctx;
  const key = `${method} ${p}`;
  switch (key) {
    case 'GET /':
      res.writeHead(200, { 'Content-Type': 'text/html', 'Cache-Control': 'no-cache', 'Content-Length': Buffer.byteLength(INDEX_HTML), Server: SERVER_HEADER });
      res.end(INDEX_HTML);
      return;
    case 'POST /prompt':
      return postPrompt(ctx, res, body);
    case 'GET /prompt':
      return sendJson(res, 200, runtime.queueInfo());
    case 'GET /queue': {
      const { running, pending } = runtime.currentQueue();
      return sendJson(res, 200, { queue_running: running, queue_pending: pending });
    }
    case 'POST /queue': {
      const json = jsonBody(body);
      if (!isObject(json)) throw new BadJson();
      if (json.clear) runtime.wipeQueue();
      if (Array.isArray(json.delete)) for (const id of json.delete) runtime.deleteQueueItem(String(id));
      return sendEmpty(res, 200);
    }
    case 'GET /history':
      return getHistory(ctx, res, url.searchParams);
    case 'POST /history': {
      const json = jsonBody(body);
      if (!isObject(json)) throw new BadJson();
      if (json.clear) runtime.history = new Map();
      if (Array.isArray(json.delete)) for (const id of json.delete) runtime.history.delete(String(id));
      return sendEmpty(res, 200);
    }
    case 'POST /interrupt': {
      let json: PyValue = {};
      try {
        json = parsePyJson(body.toString('utf8'));
      } catch {
        json = {};
      }
      const promptId = isObject(json) ? json.prompt_id : undefined;
      if (promptId) {
        if (typeof promptId === 'string' && runtime.isRunning(promptId)) runtime.interrupted = true;
      } else runtime.interrupted = true;
      return sendEmpty(res, 200);
    }
    case 'POST /free': {
      const json = jsonBody(body);
      if (!isObject(json)) throw new BadJson();
      runtime.free(Boolean(json.free_memory));
      return sendEmpty(res, 200);
    }
    case 'POST /upload/image':
      return uploadImage(ctx, req, res, body);
    case 'GET /view':
      return view(ctx, req, res, url.searchParams);
    case 'GET /object_info': {
      const all: Record<string, PyValue> = {};
      for (const [name, def] of NODE_CLASSES) if (!env.hiddenClasses.has(name)) all[name] = def.info(env);
      return sendJson(res, 200, all);
    }
    case 'GET /system_stats':
      return sendJson(res, 200, SYSTEM_STATS);
    case 'GET /features':
      return sendJson(res, 200, SERVER_FEATURES);
    case 'GET /embeddings':
    case 'GET /extensions':
      return sendJson(res, 200, []);
    case 'GET /models':
      return sendJson(res, 200, MODEL_FOLDERS);
    default:
      break;
  }
  const history = /^\/history\/(.+)$/.exec(p);
  if (method === 'GET' && history) {
    const id = decodeURIComponent(history[1]);
    runtime.historyReads.set(id, (runtime.historyReads.get(id) ?? 0) + 1);
    const entry = runtime.history.get(id);
    return sendJson(res, 200, entry ? { [id]: entry } : {});
  }
  const info = /^\/object_info\/(.+)$/.exec(p);
  if (method === 'GET' && info) {
    const name = decodeURIComponent(info[1]);
    const def = env.hiddenClasses.has(name) ? undefined : NODE_CLASSES.get(name);
    return sendJson(res, 200, def ? { [def.name]: def.info(env) } : {});
  }
  const models = /^\/models\/([^/]+)$/.exec(p);
  if (method === 'GET' && models) {
    if (models[1] === 'checkpoints') return sendJson(res, 200, env.checkpoints);
    if (MODEL_FOLDERS.includes(models[1])) return sendJson(res, 200, []);
  }
  sendText(res, 404, '404: Not Found');
}
