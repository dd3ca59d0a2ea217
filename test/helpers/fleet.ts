import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeComfy, type FakeComfy } from '../fake-comfyui/index.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';
import { startRoundRobinProxy, type RoundRobinProxy } from './proxy.js';

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
      // No pollIntervalMs: on a shared store the default is short (adopted prompts are followed by polling).
      comfyui: { backends: options.backends.map((url, i) => ({ url, name: `gpu-${i + 1}` })) },
      playground: false,
      ...options.plugins,
    },
  };
  // JSON is YAML.
  await writeFile(file, JSON.stringify(config, null, 2));
  return file;
}

/**
 * How long a start may take. An instance listens within 1-2 s here, but a 2-core machine shared by
 * several test runs starves processes: restarts that had not listened after 20 s had used 0.8 s of
 * CPU, runnable all along. Each time the fleet kill test waited out its whole deadline here, that was
 * the cause: its killer died with the restart, so the two kills it waited for never came (every
 * generation had ended).
 */
const STARTUP_MS = 60_000;

/** CPU seconds (user + system) a process used so far, from /proc ('?' where there is none). */
function cpuSeconds(pid: number | undefined): string {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) / 100).toFixed(2);
  } catch {
    return '?';
  }
}

/** Starts one instance on a free port; resolves once it logged where it listens. `root`: another checkout to run (the benches' compare switch). */
export async function startInstance(configFile: string, root = ROOT): Promise<Instance> {
  // FLEET_NODE_ARGS: extra node flags for every instance (the bench's profiling: --cpu-prof --cpu-prof-dir=…).
  const nodeArgs = process.env.FLEET_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, 'bin/comfy-bridge.js', 'serve', '--config', configFile], {
    cwd: root,
    env: { ...process.env, COMFY_BRIDGE_PORT: '0', COMFY_BRIDGE_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // FLEET_LOG_DIR keeps every instance's log (one file per process) to find out what a failed run did.
  if (process.env.FLEET_LOG_DIR) {
    const file = createWriteStream(join(process.env.FLEET_LOG_DIR, `instance-${child.pid}.log`));
    child.stdout!.pipe(file, { end: false });
    child.stderr!.pipe(file, { end: false });
    void exited.then(() => file.end());
  }
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      const cpu = cpuSeconds(child.pid);
      child.kill('SIGKILL'); // not left running behind the failed test
      reject(new Error(`the instance did not say where it listens within ${STARTUP_MS / 1000} s (it used ${cpu} s of CPU meanwhile):\n${output}`));
    }, STARTUP_MS);
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
 * are retried; any other answer fails the test. `inputs` adds workflow inputs: a distinct seed makes
 * the fake run the prompt (identical prompts are answered from its cache, as ComfyUI's, in ~1 ms).
 */
export async function submitUntilAcknowledged(base: string, clientId: string, inputs: Record<string, unknown> = {}): Promise<string> {
  for (;;) {
    let res: Response | undefined;
    try {
      res = await fetch(`${base}/generate-based-workflow?clientId=${clientId}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ workflow: 'text-to-image', '5/width': 64, '5/height': 64, '3/steps': 2, ...inputs }),
      });
    } catch {
      // The connection broke with the instance behind it.
    }
    if (res?.status === 200) return ((await res.json()) as { id: string }).id;
    if (res && res.status !== 502 && res.status !== 503) throw new Error(`submission answered ${res.status}: ${await res.text()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** What killInTurn hands back: how many kills so far, and how to stop it. */
export interface Killer {
  kills(): number;
  /** Rejects as soon as a restart fails (an instance that does not start fails the test at once). */
  readonly failed: Promise<never>;
  /** Stops after the kill or restart under way; resolves once every slot has a running instance again. */
  stop(): Promise<void>;
}

/**
 * SIGKILLs one instance of `instances` (in turn) every `everyMs` and starts a new one in its slot (the
 * array is updated in place), pointing the proxy at the live ones, until stopped. `onKilled` runs
 * right after each kill, before the restart (to record what the dead instance held).
 */
export function killInTurn(
  instances: Instance[],
  configFile: string,
  proxy: { setTargets(urls: string[]): void },
  options: { everyMs: number; onKilled?: (victim: Instance) => Promise<void> },
): Killer {
  let stopped = false;
  let kills = 0;
  const live = () => instances.filter((instance) => instance.alive()).map((instance) => instance.url);
  const loop = (async () => {
    for (let victim = 0; !stopped; victim = (victim + 1) % instances.length) {
      await new Promise((resolve) => setTimeout(resolve, options.everyMs));
      if (stopped) break;
      const dead = instances[victim]!;
      await kill(dead);
      kills++;
      proxy.setTargets(live());
      await options.onKilled?.(dead);
      instances[victim] = await startInstance(configFile);
      proxy.setTargets(live());
    }
  })();
  // The loop's failure is reported through `failed` (and stop), never as an unhandled rejection.
  const failed = loop.then(() => new Promise<never>(() => undefined));
  failed.catch(() => undefined);
  return {
    kills: () => kills,
    failed,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/** A fleet on the PostgreSQL bus as the frame tests use it; `instances` is the live array killInTurn replaces entries of. */
export interface BusFleet {
  db: TestDatabase;
  dir: string;
  fakes: FakeComfy[];
  instances: Instance[];
  proxy: RoundRobinProxy;
  config: string;
  stop(): Promise<void>;
}

/** 3 instances on a fresh PostgreSQL and its bus, 2 fakes (KSampler 40 ms), the round-robin proxy in front. */
export async function startBusFleet(name: string): Promise<BusFleet> {
  const db = await createTestDatabase();
  const dir = await mkdtemp(join(tmpdir(), `${name}-`));
  await mkdir(join(dir, 'data'));
  const fakes = [await startFakeComfy({ nodeDurationMs: 5 }), await startFakeComfy({ nodeDurationMs: 5 })];
  for (const fake of fakes) fake.setNodeDuration('KSampler', 40);
  const config = await writeFleetConfig(dir, { databaseUrl: db.url, backends: fakes.map((f) => f.url), plugins: { bus: false, 'bus-postgres': { url: db.url } } });
  const instances = await Promise.all([0, 1, 2].map(() => startInstance(config)));
  const proxy = await startRoundRobinProxy(instances.map((i) => i.url));
  return {
    db,
    dir,
    fakes,
    instances,
    proxy,
    config,
    async stop() {
      await Promise.all(instances.map((instance) => kill(instance)));
      await proxy.close();
      for (const fake of fakes) await fake.stop();
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
