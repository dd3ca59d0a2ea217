import { FINAL_STATES, type Generation } from '../contracts/generation.js';
import type { CreateGeneration, GenerationFrame } from '../plugins/generations/api.js';
import type { Bus } from '../contracts/bus.js';
import { clientTopic, type ClientFrame } from '../contracts/client-frame.js';
import { createGenerationHooks, type GenerationService } from '../plugins/generations/api.js';
import { clientFrames } from '../plugins/generations/generation.js';
import type { BridgeError } from '../core/errors.js';
import { definePlugin, type PluginManifest } from '../core/plugin.js';
import { generationRecord } from './helpers/generation.js';

type GenerationChange = 'created' | 'updated' | 'finished';

/**
 * A scriptable `generations` service for the ws / generate / execution-info tests: the test moves
 * generations through their states and the plugins under test see the same calls as from the real
 * service. Like the real one it renders each change's client frames (plugins/generations/frame.ts)
 * and publishes them on the bus when one is loaded, which is all the ws plugin sees. The e2e tests
 * use the real plugins against the fake ComfyUI instead.
 */
export class StubGenerations implements GenerationService {
  readonly hooks = createGenerationHooks();
  readonly gens = new Map<string, Generation>();
  readonly creates: CreateGeneration[] = [];
  createError: BridgeError | undefined;
  /** Delay inside create(), to exercise requests that overlap. */
  createDelayMs = 0;
  position = 0;
  readonly #listeners = new Set<(gen: Generation, change: GenerationChange) => void>();
  readonly #frameKeys = new Map<string, string>();
  #counter = 0;
  bus: Bus | undefined;

  async create(request: CreateGeneration): Promise<Generation> {
    if (this.createDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.createDelayMs));
    if (this.createError) throw this.createError;
    this.creates.push(request);
    const gen = this.add({ clientId: request.clientId, workflow: request.workflow, owner: request.principal.anonymous ? null : request.principal.id });
    gen.graph = request.graph;
    gen.uploads = Object.values(request.uploads);
    return { ...gen };
  }

  /** Records a generation (queued) and announces it. */
  add(fields: Partial<Generation> & { clientId: string }): Generation {
    const now = new Date(Date.now() + this.#counter).toISOString();
    const gen = generationRecord({
      id: `gen_stub${String(++this.#counter).padStart(16, '0')}`,
      createdAt: now,
      workflow: 'stub-workflow',
      promptId: `prompt-${this.#counter}`,
      backend: 'stub',
      position: this.position,
      totalNodes: 4,
      attempts: 1,
      ...fields,
    });
    this.gens.set(gen.id, gen);
    this.hooks.created.call({ ...gen });
    this.#notify(gen, 'created');
    return gen;
  }

  /** Changes a generation and announces it ('finished' when it reaches a final state). */
  update(id: string, patch: Partial<Generation>): Generation {
    const gen = this.gens.get(id);
    if (!gen) throw new Error(`no stub generation ${id}`);
    Object.assign(gen, patch, { updatedAt: new Date().toISOString() });
    if (FINAL_STATES.has(gen.state)) gen.finishedAt ??= new Date().toISOString();
    this.#notify(gen, FINAL_STATES.has(gen.state) ? 'finished' : 'updated');
    if (FINAL_STATES.has(gen.state)) this.hooks.settled.call({ ...gen });
    return gen;
  }

  async get(id: string): Promise<Generation | undefined> {
    const gen = this.gens.get(id);
    return gen && { ...gen };
  }

  async latestForClient(clientId: string): Promise<Generation | undefined> {
    const mine = [...this.gens.values()].filter((gen) => gen.clientId === clientId);
    const latest = mine.at(-1);
    return latest && { ...latest };
  }

  async interrupt(id: string): Promise<Generation> {
    return this.update(id, { state: 'interrupted', error: 'interrupted by the client' });
  }

  async waitForEnd(id: string, timeoutMs: number): Promise<Generation | undefined> {
    const gen = this.gens.get(id);
    if (gen && FINAL_STATES.has(gen.state)) return { ...gen };
    return new Promise((resolve) => {
      const off = this.#listen((changed, change) => {
        if (changed.id !== id || change !== 'finished') return;
        clearTimeout(timer);
        off();
        resolve(changed);
      });
      const timer = setTimeout(() => {
        off();
        resolve(undefined);
      }, timeoutMs);
    });
  }

  #listen(listener: (gen: Generation, change: GenerationChange) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  frame(gen: Generation): GenerationFrame {
    const data = {
      id: gen.id,
      workflow: gen.workflow,
      state: gen.state,
      percent: gen.state === 'completed' ? 100 : gen.percent,
      node: gen.node,
      result_urls: gen.state === 'completed' ? gen.results.map((file) => this.resultUrl(gen, file.filename)) : [],
      error_message: gen.error,
    };
    if (gen.state === 'completed') return { status: 'closed', details: 'Execution is done', data };
    if (gen.state === 'failed' || gen.state === 'interrupted') return { status: 'error', details: gen.error ?? 'The generation failed', data };
    return { status: 'progress', details: `${gen.percent.toFixed(2)}%`, data };
  }

  resultUrl(gen: Generation, filename: string): string {
    return `http://stub.invalid/results/${gen.id}/${filename}`;
  }

  resultPath(gen: Generation, filename: string): string {
    return `/nonexistent/${gen.id}/${filename}`;
  }

  activeCount(clientId?: string): number {
    return [...this.gens.values()].filter((gen) => (clientId === undefined || gen.clientId === clientId) && !FINAL_STATES.has(gen.state)).length;
  }

  /** The stub has no bridge queue. */
  heldCount(): number {
    return 0;
  }

  #notify(gen: Generation, change: GenerationChange): void {
    for (const listener of [...this.#listeners]) listener({ ...gen }, change);
    if (!this.bus) return;
    const { frames, key } = clientFrames(gen, this.#frameKeys.get(gen.id) ?? '', (g, file) => this.resultUrl(g, file));
    this.#frameKeys.set(gen.id, key);
    const active = this.activeCount(gen.clientId);
    for (const frame of frames) void this.bus.publish<ClientFrame>(clientTopic(gen.clientId), { ...frame, active });
  }
}

/** A fixture plugin providing the stub as the `generations` service (publishing on the bus when one is loaded). */
export function stubGenerationsPlugin(stub: StubGenerations): PluginManifest<never> {
  return definePlugin({
    name: 'stub-generations',
    provides: ['generations'],
    optionalDependencies: ['bus'],
    register(ctx) {
      stub.bus = ctx.tryUse('bus');
      ctx.provide('generations', stub);
    },
  }) as PluginManifest<never>;
}
