import { Readable } from 'node:stream';
import type { Graph } from '../../contracts/graph.js';
import type { BackendStatus, OutputRef, PromptLookup, SubmitResult, Transport, TransportEvent } from '../../contracts/transport.js';
import { definePlugin, type PluginManifest } from '../../core/plugin.js';

/** The one backend the synthetic transport pretends to have. */
const BACKEND = 'synthetic';

/** Milliseconds on CLOCK_MONOTONIC, which every process on the machine shares (unlike performance.now()). */
export const monotonicMs = (): number => Number(process.hrtime.bigint() / 1000n) / 1000;

/**
 * A transport with no ComfyUI behind it, for the fan-out benchmark: it accepts every prompt at once
 * and emits events only when the bench tells it to — for every live prompt in one go, as fast as the
 * bridge takes them — so the websocket fan-out is measured, not a backend that runs one prompt at a time.
 * Prompts are known by the index the bench put in their SaveImage `filename_prefix` (`c<index>`).
 */
export class SyntheticTransport implements Transport {
  /** promptId by client index. */
  readonly prompts = new Map<number, string>();
  readonly #listeners = new Set<(event: TransportEvent) => void>();

  pickBackend(): string {
    return BACKEND;
  }

  async submit(request: { promptId: string; graph: Graph; backend: string }): Promise<SubmitResult> {
    const prefix = String(Object.values(request.graph).find((node) => node.class_type === 'SaveImage')?.inputs.filename_prefix ?? '');
    const index = Number(/^c(\d+)$/.exec(prefix)?.[1] ?? NaN);
    if (!Number.isInteger(index)) throw new Error(`synthetic transport: no client index in filename_prefix ${JSON.stringify(prefix)}`);
    this.prompts.set(index, request.promptId);
    return { backend: BACKEND, number: this.prompts.size, position: 0 };
  }

  track(): void {}

  untrack(): void {}

  onEvent(listener: (event: TransportEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(event: TransportEvent): void {
    for (const listener of this.#listeners) listener(event);
  }

  async cancel(): Promise<'not_found'> {
    return 'not_found';
  }

  async upload(_backend: string, file: { name: string }): Promise<string> {
    return file.name;
  }

  async fetchOutput(_backend: string, ref: OutputRef): Promise<{ stream: Readable; contentType: string; length: number | null }> {
    return { stream: Readable.from([Buffer.alloc(0)]), contentType: `unknown/${ref.kind}`, length: 0 };
  }

  async free(): Promise<{ name: string; url: string; ok: boolean }[]> {
    return [];
  }

  async lookup(): Promise<PromptLookup> {
    return { state: 'running' };
  }

  backends(): BackendStatus[] {
    return [{ name: BACKEND, url: 'synthetic://', up: true, queueRemaining: this.prompts.size, lastError: null, jobsApi: false }];
  }

  async objectInfo(classType: string): Promise<Record<string, unknown>> {
    return { output_node: classType === 'SaveImage' };
  }
}

export function syntheticTransportPlugin(transport: SyntheticTransport): PluginManifest<never> {
  return definePlugin({
    name: 'bench-synthetic-transport',
    provides: ['transport'],
    register(ctx) {
      ctx.provide('transport', transport);
    },
  }) as PluginManifest<never>;
}
