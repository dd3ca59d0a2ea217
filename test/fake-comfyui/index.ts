/**
 * A protocol-faithful fake ComfyUI 0.3.64 for integration tests: a real HTTP + WebSocket server on
 * 127.0.0.1 (port 0 by default) that follows the captures in test/fixtures/comfyui-protocol/ — same
 * routes (also under /api/...), same JSON bodies (Python json.dumps formatting), same websocket
 * message order for success, cache hits, validation errors, run-time errors, interrupts and
 * progress, including the real server's quirks (rejected prompts send no websocket message;
 * interrupted prompts are `status_str: "error"` in history; a second socket with the same clientId
 * replaces the first; closing the replaced socket unregisters the clientId; `queue_pending` is a
 * heap, not sorted; a reconnecting client gets `executing {node}` without prompt_id).
 *
 *   const fake = await startFakeComfy({ nodeDurationMs: 5 });
 *   fake.url; fake.port;
 *   fake.setNodeDuration('TestSleep', 500);   // per class, ms (default: nodeDurationMs, 5)
 *   const release = fake.holdNode('TestSleep'); // its nodes wait, once started, until release()
 *   fake.failNextRun('boom');                  // next prompt: execution_error at its first executed node
 *   fake.goSilent(true);                       // sockets stay open, no frame is sent; runs continue
 *   fake.dropSockets();                        // cut every websocket (no close frame)
 *   await fake.stop(); await fake.restart();   // same port; queue, history and cache forgotten
 *   fake.prompts;  // every POST /prompt that carried a prompt: {promptId, clientId, graph, accepted}
 *   fake.uploads;  // Map<name as answered (subfolder/name), bytes>
 *   fake.onEventSent = (event, data, sid, at) => …;  // benchmarks: each websocket JSON message as sent
 *   fake.setCheckpoints(['a.safetensors']);   // what this instance has installed, from now on
 *   fake.hideNodeClasses(['KSampler']);       // classes this instance lacks (missing custom nodes)
 *
 * Extra controls: `await fake.waitForIdle()` (queue empty and nothing running), `fake.clientCount`
 * (registered websocket sids), `fake.dirs` (input/output/temp folders, a temp dir per instance,
 * kept across restart like a real disk), options `hasJobsApi` (serve the newer GET /api/jobs and
 * /api/jobs/{id}; 0.3.64 has neither), `checkpoints` (the ckpt_name list; default one model),
 * `modelLoadMs` (CheckpointLoaderSimple sleeps this long when the checkpoint differs from the last
 * one it loaded, like a GPU loading weights), `port` (listen on a given port).
 *
 * Node classes: EmptyImage, LoadImage, ImageInvert, ImageScale, SaveImage, PreviewImage,
 * GetImageSize (binary TEXT frame), TestSleep (progress; lasts the node duration, reports max =
 * `seconds`), CheckpointLoaderSimple, CLIPTextEncode, EmptyLatentImage, KSampler (progress per
 * step; no preview frames), VAEDecode, FailingNode (always raises RuntimeError).
 * Images are real PNG files of the requested size. LoadImage decodes 8-bit non-interlaced PNGs
 * (other formats keep their size and become grey; non-images fail like PIL does); ImageInvert
 * inverts the pixels. /view ignores `preview=` and `channel=` and serves the file as is.
 */
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { handleRequest, type RouteContext } from './http-routes.js';
import type { NodeEnv } from './node-types.js';
import { ComfyRuntime } from './runtime.js';
import { WsHub } from './ws-hub.js';

export interface FakeComfyOptions {
  /** Default duration of every executed node, ms. */
  nodeDurationMs?: number;
  /** Serve GET /api/jobs and /api/jobs/{id} like newer ComfyUI releases. */
  hasJobsApi?: boolean;
  /** ckpt_name values CheckpointLoaderSimple accepts. */
  checkpoints?: string[];
  /** Time to load a checkpoint other than the one loaded last (ms; default 0). */
  modelLoadMs?: number;
  /** Port to listen on (default 0: any free port). */
  port?: number;
  /** Time between `execution_success` and the history being stored, as real ComfyUI's task_done (ms; default 0). */
  historyDelayMs?: number;
  /** Where its input, output and temp folders are made (default: a temp folder removed at exit; a given one is the caller's). */
  dir?: string;
}

export interface ReceivedPrompt {
  promptId: string;
  clientId: string | null;
  graph: Record<string, unknown>;
  /** false when ComfyUI rejected it (HTTP 400). */
  accepted: boolean;
}

const DEFAULT_FAILURE = 'Simulated failure (fake ComfyUI failNextRun)';
const baseDirs = new Set<string>();
process.once('exit', () => {
  for (const dir of baseDirs) rmSync(dir, { recursive: true, force: true });
});

export class FakeComfy {
  readonly prompts: ReceivedPrompt[] = [];
  /** Called as each POST /prompt is read, before it is queued and answered (a kill test stops the bridge there). */
  onPromptReceived: ((prompt: ReceivedPrompt) => void) | undefined;
  readonly uploads = new Map<string, Buffer>();
  /** The file names GET /view was asked for, in order. */
  readonly views: string[] = [];
  readonly dirs: NodeEnv;
  private readonly hub: WsHub;
  private readonly runtime: ComfyRuntime;
  private server: Server | null = null;
  private portNumber: number;

  constructor(private readonly options: FakeComfyOptions = {}) {
    const base = options.dir ?? mkdtempSync(path.join(tmpdir(), 'fake-comfyui-'));
    if (options.dir === undefined) baseDirs.add(base);
    this.dirs = {
      inputDir: path.join(base, 'input'),
      outputDir: path.join(base, 'output'),
      tempDir: path.join(base, 'temp'),
      checkpoints: options.checkpoints ?? ['v1-5-pruned-emaonly.safetensors'],
      hiddenClasses: new Set(),
      model: { loaded: null, loadMs: options.modelLoadMs ?? 0, loads: 0 },
    };
    for (const dir of [this.dirs.inputDir, this.dirs.outputDir, this.dirs.tempDir]) mkdirSync(dir, { recursive: true });
    this.hub = new WsHub((sid) => this.onSocket(sid));
    this.runtime = new ComfyRuntime(this.hub, this.dirs, options.nodeDurationMs ?? 5);
    this.runtime.historyDelayMs = options.historyDelayMs ?? 0;
    this.portNumber = options.port ?? 0;
  }

  get port(): number {
    return this.portNumber;
  }

  get url(): string {
    return `http://127.0.0.1:${this.portNumber}`;
  }

  get clientCount(): number {
    return this.hub.count;
  }

  setNodeDuration(classType: string, ms: number): void {
    this.runtime.durations.set(classType, ms);
  }

  /**
   * Holds every node of `classType` once it has started (its `executing` event sent) until the returned
   * function is called: a test that must act while a generation runs waits for that, not for a duration.
   */
  holdNode(classType: string): () => void {
    return this.runtime.hold(classType);
  }

  failNextRun(message: string = DEFAULT_FAILURE): void {
    this.runtime.failures.push(message);
  }

  /** The checkpoint files this instance has from now on (its /object_info and validation follow). */
  setCheckpoints(names: string[]): void {
    this.dirs.checkpoints = [...names];
  }

  /** How many times a checkpoint was loaded (a change of model) since start. */
  get modelLoads(): number {
    return this.dirs.model.loads;
  }

  /** Node classes this instance lacks from now on, as if their custom nodes were not installed. */
  hideNodeClasses(names: string[]): void {
    this.dirs.hiddenClasses = new Set(names);
  }

  /** How many GET /history/{id} requests named this prompt. */
  historyReadsOf(promptId: string): number {
    return this.runtime.historyReads.get(promptId) ?? 0;
  }

  /** Opt-in for benchmarks: called with each JSON websocket message just sent (event, data, sid, epoch ms); sends nothing more. */
  set onEventSent(listener: ((event: string, data: unknown, sid: string | null, at: number) => void) | undefined) {
    this.hub.onSent = listener;
  }

  goSilent(on: boolean): void {
    this.hub.silent = on;
  }

  dropSockets(): void {
    this.hub.dropAll();
  }

  waitForIdle(): Promise<void> {
    return this.runtime.waitForIdle();
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => this.onRequest(req, res));
    server.on('upgrade', (req, socket, head) => {
      const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (pathname === '/ws' || pathname === '/api/ws') this.hub.handleUpgrade(req, socket, head);
      else socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.portNumber, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.portNumber = (server.address() as AddressInfo).port;
    this.server = server;
    this.runtime.setStopped(false);
  }

  /** Like killing the process: sockets cut, the running prompt abandoned, state forgotten. */
  async stop(): Promise<void> {
    this.runtime.setStopped(true);
    this.runtime.reset();
    this.hub.closeAll();
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Starts again on the same port with an empty queue and history (temp files are cleaned, as ComfyUI does). */
  async restart(): Promise<void> {
    await this.stop();
    rmSync(this.dirs.tempDir, { recursive: true, force: true });
    mkdirSync(this.dirs.tempDir, { recursive: true });
    await this.start();
  }

  private onSocket(sid: string): void {
    this.hub.send('status', { status: this.runtime.queueInfo(), sid }, sid);
    if (this.runtime.clientId === sid && this.runtime.lastNodeId !== null) this.hub.send('executing', { node: this.runtime.lastNodeId }, sid);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const ctx: RouteContext = {
        runtime: this.runtime,
        env: this.dirs,
        hasJobsApi: this.options.hasJobsApi ?? false,
        onPrompt: (p) => {
          this.prompts.push(p);
          this.onPromptReceived?.(p);
        },
        onUpload: (name, data) => this.uploads.set(name, data),
        onView: (filename) => this.views.push(filename),
      };
      handleRequest(ctx, req, res, Buffer.concat(chunks));
    });
  }
}

export async function startFakeComfy(options: FakeComfyOptions = {}): Promise<FakeComfy> {
  const fake = new FakeComfy(options);
  await fake.start();
  return fake;
}
