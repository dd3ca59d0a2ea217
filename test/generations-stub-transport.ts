import { Readable } from 'node:stream';
import type { Graph } from '../contracts/graph.js';
import type { BackendStatus, CancelOutcome, OutputRef, PromptListener, PromptRun, RunRequest, Transport, TransportEvent } from '../contracts/transport.js';
import type { BridgeError } from '../core/errors.js';
import type { GenerationService } from '../plugins/generations/api.js';
import type { Storage } from '../contracts/storage.js';
import type { Hooks } from '../core/hooks.js';
import type { Bus } from '../contracts/bus.js';
import type { ResultStore } from '../plugins/results/api.js';
import { definePlugin, type PluginManifest } from '../core/plugin.js';
import { providing } from './helpers/fixture-plugins.js';

/**
 * A scriptable Transport for the generations tests: the test decides what ComfyUI "answers" and
 * which events "arrive". Like the real transport it delivers a prompt's events to its run's
 * listener, ends a removed prompt itself, and forgets a prompt after its terminal event. The
 * integration tests use the real comfyui plugin against the fake ComfyUI.
 */
export class StubTransport implements Transport {
  up = true;
  backendName = 'stub';
  submits: (RunRequest & { graph: Graph })[] = [];
  resumes: RunRequest[] = [];
  submitError: BridgeError | undefined;
  position = 0;
  cancelOutcome: CancelOutcome = 'interrupted';
  /** Thrown by cancel() when set (a backend that cannot be reached). */
  cancelError: BridgeError | undefined;
  cancels: string[] = [];
  uploads: { backend: string; path: string; name: string; contentType: string }[] = [];
  files = new Map<string, Buffer>();
  outputClasses = new Set(['SaveImage', 'PreviewImage']);
  /** The runs being followed, by prompt_id (a terminal event removes one). */
  readonly runs = new Map<string, PromptListener>();

  pickBackend(): string | undefined {
    return this.up ? this.backendName : undefined;
  }

  async submit(request: RunRequest & { graph: Graph }, listener: PromptListener): Promise<PromptRun> {
    if (this.submitError) throw this.submitError;
    this.runs.set(request.promptId, listener);
    this.submits.push(request);
    return this.#run(request, this.position);
  }

  resume(request: RunRequest, listener: PromptListener): PromptRun {
    this.resumes.push(request);
    this.runs.set(request.promptId, listener);
    return this.#run(request, null);
  }

  #run(request: RunRequest, position: number | null): PromptRun {
    return {
      promptId: request.promptId,
      backend: request.backend,
      position,
      cancel: async () => {
        this.cancels.push(request.promptId);
        if (this.cancelError) throw this.cancelError;
        // The transport owns the end of a prompt it removed from the queue.
        if (this.cancelOutcome === 'removed') this.emit({ type: 'interrupted', promptId: request.promptId, backend: request.backend, node: null });
        return this.cancelOutcome;
      },
    };
  }

  /** An event "from ComfyUI": delivered to its prompt's run, which a terminal event ends. */
  emit(event: TransportEvent): void {
    const listener = this.runs.get(event.promptId);
    if (!listener) return;
    if (['completed', 'failed', 'interrupted', 'lost', 'stuck'].includes(event.type)) this.runs.delete(event.promptId);
    listener(event);
  }

  get last(): RunRequest & { graph: Graph } {
    const last = this.submits.at(-1);
    if (!last) throw new Error('nothing was submitted');
    return last;
  }

  async upload(backend: string, file: { path: string; name: string; contentType: string }): Promise<string> {
    this.uploads.push({ backend, ...file });
    return `remote-${file.name}`;
  }

  async fetchOutput(_backend: string, ref: OutputRef): Promise<{ stream: Readable; contentType: string; length: number | null }> {
    const bytes = this.files.get(ref.filename);
    if (!bytes) throw new Error(`no such output ${ref.filename}`);
    return { stream: Readable.from([bytes]), contentType: 'image/png', length: bytes.length };
  }

  async free(): Promise<{ name: string; url: string; ok: boolean }[]> {
    return [];
  }

  backends(): BackendStatus[] {
    return [{ name: this.backendName, url: 'http://stub', up: this.up, queueRemaining: 0, lastError: null, jobsApi: false }];
  }

  async objectInfo(classType: string): Promise<Record<string, unknown> | undefined> {
    return { output_node: this.outputClasses.has(classType) };
  }
}

export function stubTransportPlugin(stub: StubTransport): PluginManifest<never> {
  return providing('stub-transport', { transport: stub });
}

export interface Probe {
  generations?: GenerationService;
  storage?: Storage;
  hooks?: Hooks;
  transport?: Transport;
  bus?: Bus;
  results?: ResultStore;
}

/** A plugin that hands the test the services it needs to drive (loaded after generations). */
export function probePlugin(probe: Probe): PluginManifest<never> {
  return definePlugin({
    name: 'generations-probe',
    dependencies: ['generations', 'storage', 'transport', 'bus', 'results'],
    register(ctx) {
      probe.generations = ctx.use('generations');
      probe.storage = ctx.use('storage');
      probe.hooks = ctx.hooks;
      probe.transport = ctx.use('transport');
      probe.bus = ctx.use('bus');
      probe.results = ctx.use('results');
    },
  }) as PluginManifest<never>;
}

/** EmptyImage → SaveImage, plus a node no output needs. */
export const GRAPH: Graph = {
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
  '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } },
  // Feeds no output: ComfyUI never runs it, so it does not count.
  '9': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
};

export { until } from './helpers/until.js';

