import type { Logger } from 'pino';
import type { Generation } from '../../contracts/generation.js';
import type { GenerationChange } from '../../plugins/generations/api.js';
import type { Storage } from '../../contracts/storage.js';
import type { Transport, TransportEvent } from '../../contracts/transport.js';
import type { UploadService } from '../../plugins/upload/api.js';
import type { Hooks } from '../../core/hooks.js';
import { snapshot, type LiveGeneration } from './live-generation.js';
import { LiveRegistry } from './live-registry.js';
import type { GenerationsOptions } from './options.js';

export type ChangeListener = (gen: Generation, change: GenerationChange) => void;

export interface GenerationManagerDeps {
  storage: Storage;
  transport: Transport;
  uploads: UploadService | undefined;
  hooks: Hooks;
  log: Logger;
  options: GenerationsOptions;
  /** `<dataDir>/results`: one folder per generation. */
  resultsDir: string;
  /** Base of public URLs (publicUrl, or the bound address). */
  baseUrl: () => string;
}

/**
 * What the pieces of the generation service share: their dependencies, the live generations,
 * the change listeners and whether the service is closing. Passed to each piece explicitly.
 */
export class GenerationContext {
  readonly live: LiveRegistry;
  readonly listeners = new Set<ChangeListener>();
  /** Which node classes are output nodes, asked of the backends once per class. */
  readonly outputClasses = new Map<string, boolean>();
  closed = false;

  constructor(readonly deps: GenerationManagerDeps) {
    this.live = new LiveRegistry(deps.transport);
  }

  notify(gen: Generation, change: GenerationChange): void {
    if (this.listeners.size === 0) return;
    const copy = snapshot(gen);
    for (const listener of [...this.listeners]) {
      try {
        listener(copy, change);
      } catch (error) {
        this.deps.log.error({ err: error, genId: gen.id }, 'generation listener threw');
      }
    }
  }

  fireProgress(live: LiveGeneration, event: TransportEvent): void {
    if (!this.deps.hooks.progress.isUsed()) return;
    try {
      this.deps.hooks.progress.call(snapshot(live.gen), event);
    } catch (error) {
      live.log.error({ err: error }, 'progress hook threw');
    }
  }
}
