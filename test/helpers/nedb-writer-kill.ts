import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHILD = fileURLToPath(new URL('./nedb-writer-child.ts', import.meta.url));

/**
 * Runs the writer child (test/helpers/nedb-writer-child.ts) on `dataDir` until it prints `killAt` lines or
 * `paused`, then kills it with SIGKILL. Answers the last generation the child saw acknowledged as `queued`.
 */
export async function killWriterChild(dataDir: string, args: string[], killAt?: number): Promise<{ lastQueued: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dataDir, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  let lastQueued = 0;
  let seen = 0;
  let paused = false;
  let rest = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    for (const line of parts) {
      const [what, n] = line.split(' ');
      if (what === 'queued') lastQueued = Number(n);
      if (what === 'paused') paused = true;
      // Killed as soon as the line is read: the child is then writing the next change.
      if (++seen === killAt || what === 'paused') child.kill('SIGKILL');
    }
  });
  expect(await exited, stderr).to.equal('SIGKILL');
  if (killAt === undefined) expect(paused, `the child paused (${stderr})`).to.equal(true);
  return { lastQueued };
}
