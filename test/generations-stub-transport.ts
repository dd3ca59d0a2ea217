import { Readable } from 'node:stream';
import type { Graph } from '../contracts/graph.js';
import type { BackendStatus, OutputRef, PromptLookup, SubmitResult, Transport, TransportEvent } from '../contracts/transport.js';
import type { BridgeError } from '../core/errors.js';
import type { GenerationService } from '../plugins/generations/api.js';
import type { Storage } from '../contracts/storage.js';
import type { Hooks } from '../core/hooks.js';
import { definePlugin, type PluginManifest } from '../core/plugin.js';
import { providing } from './helpers/fixture-plugins.js';

/**
 * A scriptable Transport for the generations tests: the test decides what ComfyUI "answers" and
 * which events "arrive". The integration tests use the real comfyui plugin against the fake ComfyUI.
 */
export class StubTransport implements Transport {
  up = true;
  backendName = 'stub';
  submits: { promptId: string; graph: Graph; backend: string }[] = [];
  submitError: BridgeError | undefined;
  position = 0;
  lookups = new Map<string, PromptLookup>();
  lookupError: Error | undefined;
  lookupCalls: string[] = [];
  cancelOutcome: 'removed' | 'interrupted' | 'not_found' = 'interrupted';
  cancels: string[] = [];
  uploads: { backend: string; path: string; name: string; contentType: string }[] = [];
  files = new Map<string, Buffer>();
  tracked = new Set<string>();
  outputClasses = new Set(['SaveImage', 'PreviewImage']);
  readonly #listeners = new Set<(event: TransportEvent) => void>();

  pickBackend(): string | undefined {
    return this.up ? this.backendName : undefined;
  }

  async submit(request: { promptId: string; graph: Graph; backend: string }): Promise<SubmitResult> {
    this.tracked.add(request.promptId);
    if (this.submitError) {
      this.tracked.delete(request.promptId);
      throw this.submitError;
    }
    this.submits.push(request);
    return { backend: request.backend, number: this.submits.length, position: this.position };
  }

  track(promptId: string): void {
    this.tracked.add(promptId);
  }

  untrack(promptId: string): void {
    this.tracked.delete(promptId);
  }

  onEvent(listener: (event: TransportEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(event: TransportEvent): void {
    for (const listener of this.#listeners) listener(event);
  }

  /** Emits a typical run of the last submission: started, each node executing, then completed. */
  get last(): { promptId: string; graph: Graph; backend: string } {
    const last = this.submits.at(-1);
    if (!last) throw new Error('nothing was submitted');
    return last;
  }

  async cancel(promptId: string): Promise<'removed' | 'interrupted' | 'not_found'> {
    this.cancels.push(promptId);
    return this.cancelOutcome;
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

  async lookup(promptId: string): Promise<PromptLookup> {
    this.lookupCalls.push(promptId);
    if (this.lookupError) throw this.lookupError;
    return this.lookups.get(promptId) ?? { state: 'unknown' };
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
}

/** A plugin that hands the test the services it needs to drive (loaded after generations). */
export function probePlugin(probe: Probe): PluginManifest<never> {
  return definePlugin({
    name: 'generations-probe',
    dependencies: ['generations', 'storage', 'transport'],
    register(ctx) {
      probe.generations = ctx.use('generations');
      probe.storage = ctx.use('storage');
      probe.hooks = ctx.hooks;
      probe.transport = ctx.use('transport');
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

