import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeComfy, type FakeComfy } from '../fake-comfyui/index.js';
import { until } from './until.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** One real `comfy-bridge serve` process, as an operator runs it (the tests that kill or starve one). */
export interface ServedBridge {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
  /** Everything it logged so far. */
  log(): string;
}

export interface ServeOptions {
  /** After `serve` (e.g. ['--config', file]). */
  args?: string[];
  /** Over this process's environment; the port is always 0 and the host 127.0.0.1. */
  env?: Record<string, string>;
  /** How long it may take to say where it listens (a loaded machine starts processes slowly). */
  timeoutMs?: number;
  /** A command the bridge runs under, before node (e.g. strace and its arguments). */
  wrap?: string[];
}

/** Starts `node bin/comfy-bridge.js serve` on a free port; resolves once its "listening" line names the URL. */
export async function serveBridge(options: ServeOptions = {}): Promise<ServedBridge> {
  const [command, ...args] = [...(options.wrap ?? []), process.execPath, 'bin/comfy-bridge.js', 'serve', ...(options.args ?? [])];
  const child = spawn(command!, args, {
    cwd: ROOT,
    env: { ...process.env, COMFY_BRIDGE_LOG_LEVEL: 'info', ...options.env, COMFY_BRIDGE_PORT: '0', COMFY_BRIDGE_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let output = '';
  // Kept for the whole life of the process: the pipes never fill, and log() has everything.
  const keep = (chunk: Buffer): void => void (output += chunk.toString());
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the bridge did not say where it listens:\n${output}`)), options.timeoutMs ?? 60_000);
    const look = (): void => {
      // Only the listening line: other lines name the ComfyUI URL, on 127.0.0.1 too.
      const line = output.split('\n').find((l) => l.includes('"msg":"listening"'));
      const match = line === undefined ? null : /"url":"(http:\/\/[^"]+)"/.exec(line);
      if (!match?.[1]) return;
      clearTimeout(timer);
      child.stdout!.off('data', look);
      child.stderr!.off('data', look);
      resolve(match[1]);
    };
    child.stdout!.on('data', look);
    child.stderr!.on('data', look);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the bridge exited (${code ?? child.signalCode}) before listening:\n${output}`));
    });
  });
  return { child, url, exited, log: () => output };
}

/** `comfy-bridge serve` on a data dir and one ComfyUI (the kill and disk tests' bridge). */
export function serveOnDataDir(dataDir: string, comfyUrl: string): Promise<ServedBridge> {
  return serveBridge({ env: { COMFY_BRIDGE_DATA_DIR: dataDir, COMFY_BRIDGE_COMFYUI_URLS: comfyUrl } });
}

/** SIGKILLs those still running and waits for them to exit (an `after` hook's clean-up). */
export async function killAll(served: readonly ServedBridge[]): Promise<void> {
  for (const one of served) {
    if (one.child.exitCode === null && one.child.signalCode === null) one.child.kill('SIGKILL');
    await one.exited;
  }
}

/** What a kill test's bridges share: one fake ComfyUI, one fresh folder, and the bridges served so far. */
export interface KillStack {
  readonly fake: FakeComfy;
  readonly dir: string;
  /** Every bridge the test serves goes here: the `after` hook SIGKILLs those still running. */
  readonly running: ServedBridge[];
}

/**
 * Registers the `before` and `after` hooks of a describe whose tests serve, kill and restart bridges: a fake
 * ComfyUI (5 ms nodes) and a fresh folder under the system temp folder made before, and everything removed after.
 */
export function killStack(prefix: string): KillStack {
  const stack = { running: [] as ServedBridge[] } as { fake: FakeComfy; dir: string; running: ServedBridge[] };
  before(async () => {
    stack.fake = await startFakeComfy({ nodeDurationMs: 5 });
    stack.dir = await mkdtemp(join(tmpdir(), prefix));
  });
  after(async () => {
    await killAll(stack.running);
    await stack.fake.stop();
    await rm(stack.dir, { recursive: true, force: true });
  });
  return stack;
}

/** What GET /execution-info says of a generation on a served bridge; undefined while it does not answer 200 (not up yet, or gone). */
export interface ServedExecutionInfo {
  status: string;
  data: { id: string; state: string; percent: number; position: number | null; result_urls: string[] };
}

export async function executionInfo(url: string, id: string): Promise<ServedExecutionInfo | undefined> {
  try {
    const res = await fetch(`${url}/execution-info?id=${encodeURIComponent(id)}`);
    return res.status === 200 ? ((await res.json()) as ServedExecutionInfo) : undefined;
  } catch {
    return undefined;
  }
}

/** What GET /execution-info says of a generation once it ended on a served bridge (waits for it, up to `ms`). */
export function endedOn(url: string, id: string, what: string, ms: number): Promise<ServedExecutionInfo> {
  return until(
    async () => {
      const current = await executionInfo(url, id);
      return current && current.data.state !== 'queued' && current.data.state !== 'running' ? current : undefined;
    },
    what,
    ms,
  );
}

/** POSTs the text-to-image workflow (64×64, one step) for `clientId` to a served bridge; its end once completed (throws otherwise). */
export async function generateCompleted(url: string, clientId: string): Promise<ServedExecutionInfo> {
  const res = await fetch(`${url}/generate-based-workflow?clientId=${encodeURIComponent(clientId)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ workflow: 'text-to-image', '5/width': 64, '5/height': 64, '3/steps': 1 }),
  });
  if (res.status !== 200) throw new Error(`POST /generate-based-workflow answered ${res.status}: ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  const end = await endedOn(url, id, 'the generation to complete', 20_000);
  if (end.data.state !== 'completed') throw new Error(`generation ${id} ended ${end.data.state}, not completed`);
  return end;
}
