import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts a server script in its own process, pinned to `cpu` with taskset where available so the load
 * generator (this process, pinned to the other core) does not compete with it. The script prints
 * `LISTENING <url>` on stdout once it serves.
 */
export async function startServerProcess(
  script: string,
  args: string[] = [],
  cpu = 0,
  env: Record<string, string> = {},
  /** Opens a node IPC channel to the child (`child.send` / `process.on('message')`), for servers driven by the bench. */
  options: { ipc?: boolean } = {},
): Promise<ServerProcess> {
  // BENCH_SERVER_NODE_ARGS adds node flags to every server process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`
  // (node refuses --cpu-prof in NODE_OPTIONS).
  const extra = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const node = [process.execPath, ...extra, '--import', 'tsx', script, ...args];
  const command = existsSync('/usr/bin/taskset') ? ['taskset', '-c', String(cpu), ...node] : node;
  const child = spawn(command[0]!, command.slice(1), { stdio: options.ipc ? ['ignore', 'pipe', 'inherit', 'ipc'] : ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`${script} did not start within 60 s`)), 60000);
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const match = /LISTENING (\S+)/.exec(buffered);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code} before listening`)));
  });
  return {
    url,
    child,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

/** Pins this process (the load generator) to `cpu`. */
export function pinSelf(cpu: number): void {
  if (!existsSync('/usr/bin/taskset')) return;
  spawn('taskset', ['-pc', String(cpu), String(process.pid)], { stdio: 'ignore' });
}
