import { write as fsWrite } from 'node:fs';
import type { DestinationStream } from 'pino';

/**
 * The process's log output (the CLI owns stdout; the kernel only makes loggers). Kept out of the kernel
 * because it is a stream policy, not a logger: whoever runs the bridge decides where lines go.
 */

/** Lines the loggers could not write (full disk, a stdout reader that died or stopped reading), since start. */
let droppedLines = 0;
export const droppedLogLines = (): number => droppedLines;

const live = new Set<SafeDestination>();

/** How many bytes may wait for a slow stdout before new lines are dropped (a frozen reader must not grow memory). */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;
/** After a failed write, wait this long before the next attempt, so a full disk does not turn into a busy loop. */
const RETRY_AFTER_MS = 200;

/**
 * A log destination that never blocks the event loop and never throws: writes are asynchronous, a line
 * that cannot be written (ENOSPC, EPIPE, EIO...) is dropped and counted, and lines beyond MAX_QUEUED_BYTES
 * waiting for a stuck reader are dropped and counted too. pino's own destination writes synchronously by
 * default and emits unhandled 'error' events, which froze and then killed the server on a full disk.
 */
export class SafeDestination implements DestinationStream {
  private queue: string[] = [];
  private queuedBytes = 0;
  private writing = false;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly fd: number,
    private readonly format: (line: string) => string = (line) => line,
  ) {
    live.add(this);
  }

  write(line: string): void {
    let text: string;
    try {
      text = this.format(line);
    } catch {
      text = line;
    }
    if (this.queuedBytes + text.length > MAX_QUEUED_BYTES) {
      droppedLines++;
      return;
    }
    this.queue.push(text);
    this.queuedBytes += text.length;
    if (!this.writing) this.next();
  }

  /** Resolves once everything queued is written (or dropped), or after `deadlineMs`, whichever comes first. */
  flush(deadlineMs: number): Promise<void> {
    if (!this.writing && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      // Ref'd on purpose: this timer is what keeps the process alive while the last lines drain.
      const timer = setTimeout(resolve, deadlineMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private next(): void {
    if (this.queue.length === 0) {
      this.writing = false;
      for (const waiter of this.waiters.splice(0)) waiter();
      return;
    }
    this.writing = true;
    const lines = this.queue.length;
    const chunk = Buffer.from(this.queue.join(''));
    this.queue = [];
    this.queuedBytes = 0;
    this.writeChunk(chunk, lines);
  }

  private writeChunk(chunk: Buffer, lines: number): void {
    fsWrite(this.fd, chunk, 0, chunk.length, null, (error, written) => {
      if (error?.code === 'EAGAIN') {
        // A pipe whose reader is slow: try again shortly; new lines queue (up to the cap) meanwhile.
        setTimeout(() => this.writeChunk(chunk, lines), 10).unref();
        return;
      }
      if (error) {
        droppedLines += lines;
        setTimeout(() => this.next(), RETRY_AFTER_MS).unref();
        return;
      }
      if (written < chunk.length) return this.writeChunk(chunk.subarray(written), lines);
      this.next();
    });
  }
}

/** Writes what every logger still holds, but gives up after `deadlineMs` (a dead stdout must not hold exit). */
export async function flushLogs(deadlineMs = 1000): Promise<void> {
  await Promise.all([...live].map((destination) => destination.flush(deadlineMs)));
}
