import { AbortedError, executePrompt, type CacheEntry } from './executor.js';
import type { NodeEnv } from './node-types.js';
import { heapPop, heapPush, heapify, publicItem, type HistoryEntry, type QueueItem } from './prompt-queue.js';
import type { PyValue } from './py-json.js';
import type { WsHub } from './ws-hub.js';

const MAXIMUM_HISTORY_SIZE = 10000;

interface PendingTimer {
  timer: NodeJS.Timeout;
  reject: (err: Error) => void;
}

/**
 * The server-side state of one fake ComfyUI process: prompt queue, prompt worker, history,
 * execution cache and interrupt flag. `reset()` is what a process restart forgets.
 */
export class ComfyRuntime {
  queue: QueueItem[] = [];
  readonly running = new Map<number, QueueItem>();
  history = new Map<string, HistoryEntry>();
  /** PromptServer.number: the next queue number. */
  number = 0;
  readonly cache = new Map<string, CacheEntry>();
  interrupted = false;
  /** The client_id of the running prompt (PromptServer.client_id) and its current node. */
  clientId: string | null = null;
  lastNodeId: string | null = null;
  readonly durations = new Map<string, number>();
  /** Node classes held (holdNode): a node of one waits, once it has started, until its release. */
  private readonly holds = new Map<string, { held: Promise<void>; release: () => void; abort: (error: Error) => void }>();
  readonly failures: string[] = [];
  /**
   * The time between `execution_success` and the history being stored (real ComfyUI's task_done runs
   * after execute, on the worker thread, while the server already sent the success frame). 0: at once.
   */
  historyDelayMs = 0;
  /** GET /history/{id} requests per prompt id (what a test can count). */
  readonly historyReads = new Map<string, number>();

  private taskCounter = 0;
  private busy = false;
  private freeMemoryPending = false;
  private epoch = 0;
  private readonly timers = new Set<PendingTimer>();
  private idleWaiters: (() => void)[] = [];
  private stopped = false;

  constructor(
    private readonly hub: WsHub,
    private readonly env: NodeEnv,
    private readonly defaultDurationMs: number,
  ) {}

  queueInfo(): { exec_info: { queue_remaining: number } } {
    return { exec_info: { queue_remaining: this.queue.length + this.running.size } };
  }

  queueUpdated(): void {
    this.hub.send('status', { status: this.queueInfo() }, null);
  }

  put(item: QueueItem): void {
    heapPush(this.queue, item);
    this.queueUpdated();
    this.kick();
  }

  currentQueue(): { running: PyValue[][]; pending: PyValue[][] } {
    return { running: [...this.running.values()].map(publicItem), pending: this.queue.map(publicItem) };
  }

  deleteQueueItem(promptId: string): boolean {
    const index = this.queue.findIndex((item) => item[1] === promptId);
    if (index === -1) return false;
    if (this.queue.length === 1) this.queue = [];
    else {
      this.queue.splice(index, 1);
      heapify(this.queue);
    }
    this.queueUpdated();
    return true;
  }

  wipeQueue(): void {
    this.queue = [];
    this.queueUpdated();
  }

  isRunning(promptId: string): boolean {
    return [...this.running.values()].some((item) => item[1] === promptId);
  }

  /** POST /free: free_memory drops the execution cache between prompts. */
  free(freeMemory: boolean): void {
    if (!freeMemory) return;
    if (this.busy) this.freeMemoryPending = true;
    else this.cache.clear();
  }

  get idle(): boolean {
    return !this.busy && this.queue.length === 0;
  }

  waitForIdle(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Holds every node of `classType` after it starts (its `executing` sent) until the returned release is called. */
  hold(classType: string): () => void {
    let release!: () => void;
    let abort!: (error: Error) => void;
    const held = new Promise<void>((resolve, reject) => {
      release = resolve;
      abort = reject;
    });
    held.catch(() => undefined);
    this.holds.set(classType, { held, release, abort });
    return () => {
      if (this.holds.get(classType)?.held === held) this.holds.delete(classType);
      release();
    };
  }

  sleep(ms: number): Promise<void> {
    const epoch = this.epoch;
    return new Promise((resolve, reject) => {
      const entry: PendingTimer = {
        timer: setTimeout(() => {
          this.timers.delete(entry);
          if (epoch === this.epoch) resolve();
          else reject(new AbortedError());
        }, Math.max(0, ms)),
        reject,
      };
      this.timers.add(entry);
    });
  }

  private kick(): void {
    if (this.busy || this.stopped) return;
    this.busy = true;
    setImmediate(() => void this.workLoop());
  }

  private async workLoop(): Promise<void> {
    const epoch = this.epoch;
    while (!this.stopped && epoch === this.epoch) {
      if (this.freeMemoryPending) {
        this.cache.clear();
        this.freeMemoryPending = false;
      }
      const item = heapPop(this.queue);
      if (!item) break;
      const taskId = this.taskCounter++;
      this.running.set(taskId, item);
      this.queueUpdated();
      const extra = item[3];
      this.clientId = typeof extra.client_id === 'string' ? extra.client_id : null;
      let outcome;
      try {
        outcome = await executePrompt(item, {
          hub: this.hub,
          env: this.env,
          cache: this.cache,
          durationFor: (classType) => this.durations.get(classType) ?? this.defaultDurationMs,
          heldUntil: (classType) => this.holds.get(classType)?.held,
          takeFailure: () => this.failures.shift() ?? null,
          sleep: (ms) => this.sleep(ms),
          isInterrupted: () => this.interrupted,
          clearInterrupt: () => {
            this.interrupted = false;
          },
          setLastNodeId: (id) => {
            this.lastNodeId = id;
          },
        });
      } catch (err) {
        if (err instanceof AbortedError || epoch !== this.epoch) return;
        throw err;
      }
      if (epoch !== this.epoch) return;
      if (this.historyDelayMs > 0) {
        try {
          await this.sleep(this.historyDelayMs);
        } catch (err) {
          if (err instanceof AbortedError || epoch !== this.epoch) return;
          throw err;
        }
      }
      this.running.delete(taskId);
      if (this.history.size > MAXIMUM_HISTORY_SIZE) this.history.delete(this.history.keys().next().value as string);
      this.history.set(item[1], {
        prompt: publicItem(item),
        outputs: outcome.outputs,
        status: { status_str: outcome.success ? 'success' : 'error', completed: outcome.success, messages: outcome.messages },
        meta: outcome.meta,
      });
      this.queueUpdated();
      if (this.clientId !== null) this.hub.send('executing', { node: null, prompt_id: item[1] }, this.clientId);
      // let HTTP requests and socket events in between prompts, like the real worker thread
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (epoch !== this.epoch) return;
    this.busy = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** A process restart: aborts the run in progress and forgets queue, history, cache and counters. */
  reset(): void {
    this.epoch++;
    for (const t of this.timers) {
      clearTimeout(t.timer);
      t.reject(new AbortedError());
    }
    this.timers.clear();
    for (const hold of this.holds.values()) hold.abort(new AbortedError());
    this.holds.clear();
    this.queue = [];
    this.running.clear();
    this.history = new Map();
    this.cache.clear();
    this.number = 0;
    this.taskCounter = 0;
    this.interrupted = false;
    this.clientId = null;
    this.lastNodeId = null;
    this.busy = false;
    this.freeMemoryPending = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  setStopped(stopped: boolean): void {
    this.stopped = stopped;
  }
}
