import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { FakeComfyOptions } from '../fake-comfyui/index.js';

const CHILD = fileURLToPath(new URL('../fake-comfyui/child.ts', import.meta.url));

export interface ReceivedPromptRecord {
  promptId: string;
  clientId: string | null;
  accepted: boolean;
}

/**
 * The fake ComfyUI in its own process (test/fake-comfyui/child.ts): real freezes (SIGSTOP/SIGCONT)
 * and real deaths (SIGKILL: its port then refuses connections). `restart()` starts a new process on
 * the same port (an empty queue and history, like a restarted ComfyUI).
 */
export class FakeComfyProcess {
  #child: ChildProcess | null = null;
  #port = 0;
  #control = 0;

  constructor(private readonly options: FakeComfyOptions & { durations?: Record<string, number> }) {}

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  async start(): Promise<void> {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify({ ...this.options, port: this.#port || this.options.port })], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.#child = child;
    const lines = createInterface({ input: child.stdout! });
    const [line] = (await Promise.race([
      once(lines, 'line'),
      once(child, 'exit').then(([code]) => {
        throw new Error(`the fake ComfyUI process exited with ${String(code)} before listening`);
      }),
    ])) as [string];
    const ready = JSON.parse(line) as { port: number; control: number };
    this.#port = ready.port;
    this.#control = ready.control;
  }

  freeze(): void {
    this.#child?.kill('SIGSTOP');
  }

  thaw(): void {
    this.#child?.kill('SIGCONT');
  }

  /** SIGKILL, and waits until the process is gone (its port refuses connections from then on). */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  /** Every POST /prompt it received (while this process lives). */
  async prompts(): Promise<ReceivedPromptRecord[]> {
    const res = await fetch(`http://127.0.0.1:${this.#control}/prompts`);
    return (await res.json()) as ReceivedPromptRecord[];
  }

  /** The prompt ids it ran (its /history: completed, failed or interrupted, never one deleted from the queue). */
  async ran(): Promise<string[]> {
    const res = await fetch(`${this.url}/history`);
    return Object.keys((await res.json()) as Record<string, unknown>);
  }

  /** The prompt ids in its queue, running and pending. */
  async queued(): Promise<{ running: string[]; pending: string[] }> {
    const res = await fetch(`${this.url}/queue`);
    const body = (await res.json()) as { queue_running: unknown[][]; queue_pending: unknown[][] };
    return { running: body.queue_running.map((e) => String(e[1])), pending: body.queue_pending.map((e) => String(e[1])) };
  }

  /** Ends the process, frozen or not (SIGKILL ends a stopped process too). */
  async stop(): Promise<void> {
    await this.kill();
  }
}
