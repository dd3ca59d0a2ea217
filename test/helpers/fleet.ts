import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** One `comfy-bridge serve` process of a fleet, as an operator runs it. */
export interface Instance {
  child: ChildProcess;
  url: string;
  /** Its instance id (the owner on the leases it holds), from its log. */
  id: string;
  exited: Promise<void>;
  alive(): boolean;
}

/** Writes the fleet's config file: PostgreSQL storage (and bus, when given), the fakes as backends. */
export async function writeFleetConfig(dir: string, options: { databaseUrl: string; backends: string[]; plugins?: Record<string, unknown> }): Promise<string> {
  const file = join(dir, 'fleet.yaml');
  const config = {
    log: { level: 'info' },
    dataDir: join(dir, 'data'),
    plugins: {
      'storage-nedb': false,
      'storage-postgres': { url: options.databaseUrl, leaseMs: 3000, poolSize: 8 },
      // Each instance has its own ComfyUI clientId, so a prompt adopted from a killed instance is followed
      // through /history: check it every 2 s rather than every 30 s, or kills every 2.5 s outpace it.
      comfyui: { backends: options.backends.map((url, i) => ({ url, name: `gpu-${i + 1}` })), pollIntervalMs: 2000 },
      playground: false,
      ...options.plugins,
    },
  };
  // JSON is YAML.
  await writeFile(file, JSON.stringify(config, null, 2));
  return file;
}

/** Starts one instance on a free port; resolves once it logged where it listens. */
export async function startInstance(configFile: string): Promise<Instance> {
  const child = spawn(process.execPath, ['bin/comfy-bridge.js', 'serve', '--config', configFile], {
    cwd: ROOT,
    env: { ...process.env, COMFY_BRIDGE_PORT: '0', COMFY_BRIDGE_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the instance did not say where it listens:\n${output}`)), 20_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      for (const line of output.split('\n')) {
        if (!line.includes('listening')) continue;
        const match = /"url":"(http:\/\/[^"]+)"/.exec(line) ?? /(http:\/\/127\.0\.0\.1:\d+)/.exec(line);
        if (match?.[1]) {
          clearTimeout(timer);
          child.stdout!.off('data', onData);
          child.stderr!.off('data', onData);
          resolve(match[1]);
          return;
        }
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the instance exited (${child.exitCode ?? child.signalCode}) before listening:\n${output}`));
    });
  });
  // Keep draining the pipes so a chatty process never blocks on a full pipe.
  child.stdout!.resume();
  child.stderr!.resume();
  const id = /"instance":"([^"]+)"/.exec(output)?.[1];
  if (!id) throw new Error(`the instance did not log its instance id:\n${output}`);
  return { child, url, id, exited, alive: () => child.exitCode === null && child.signalCode === null };
}

export async function kill(instance: Instance, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (instance.alive()) instance.child.kill(signal);
  await instance.exited;
}

/**
 * One generation request, retried (as a client would) until an instance acknowledges it with an id.
 * 502 (the instance died under the request) and 503 (a fresh instance not connected to ComfyUI yet)
 * are retried; any other answer fails the test.
 */
export async function submitUntilAcknowledged(base: string, clientId: string): Promise<string> {
  for (;;) {
    let res: Response | undefined;
    try {
      res = await fetch(`${base}/generate-based-workflow?clientId=${clientId}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ workflow: 'text-to-image', '5/width': 64, '5/height': 64, '3/steps': 2 }),
      });
    } catch {
      // The connection broke with the instance behind it.
    }
    if (res?.status === 200) return ((await res.json()) as { id: string }).id;
    if (res && res.status !== 502 && res.status !== 503) throw new Error(`submission answered ${res.status}: ${await res.text()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
