import type { Generation } from '../../contracts/generation.js';
import type { GenerationCounts, GenerationStore, GenerationWriteOptions, HistoryQuery, IdempotencyRecord, IdempotencyStore, UploadRecord, UploadStore } from '../../contracts/storage.js';
import type { ClientBinding, ClientBindingStore } from '../../contracts/client-bindings.js';
import type { NedbClientBindingStore } from './client-binding-store.js';
import type { NedbGenerationStore } from './generation-store.js';
import type { NedbIdempotencyStore } from './idempotency-store.js';
import type { NedbUploadStore } from './upload-store.js';

/**
 * Stand-ins handed out while the datafiles are still loading: a call made before the load ends
 * waits for it (the bridge does not listen before then: the plugin's `ready` step awaits the load),
 * and once loaded every call goes straight to the store.
 */
abstract class Deferred<T> {
  #store: T | undefined;
  readonly #ready: Promise<T>;

  constructor(ready: Promise<T>) {
    this.#ready = ready.then((store) => (this.#store = store));
    this.#ready.catch(() => undefined); // the load error is reported by whoever awaits the load
  }

  protected store(): T | Promise<T> {
    return this.#store ?? this.#ready;
  }

  protected loadedStore(): T | undefined {
    return this.#store;
  }
}

export class DeferredGenerationStore extends Deferred<NedbGenerationStore> implements GenerationStore {
  /** Rows held (0 while loading). */
  get size(): number {
    return this.loadedStore()?.size ?? 0;
  }

  async insert(gen: Generation, inFile?: () => void): Promise<void> {
    return (await this.store()).insert(gen, inFile);
  }

  async update(id: string, patch: Partial<Omit<Generation, 'id'>>): Promise<Generation | undefined> {
    return (await this.store()).update(id, patch);
  }

  async write(id: string, patch: Partial<Omit<Generation, 'id'>>, options?: GenerationWriteOptions): Promise<boolean> {
    return (await this.store()).write(id, patch, options);
  }

  async get(id: string): Promise<Generation | undefined> {
    return (await this.store()).get(id);
  }

  async getByPromptId(promptId: string): Promise<Generation | undefined> {
    return (await this.store()).getByPromptId(promptId);
  }

  async latestForClient(clientId: string): Promise<Generation | undefined> {
    return (await this.store()).latestForClient(clientId);
  }

  async page(query: HistoryQuery): Promise<{ items: Generation[]; total: number }> {
    return (await this.store()).page(query);
  }

  async unfinished(): Promise<Generation[]> {
    return (await this.store()).unfinished();
  }

  async counts(): Promise<GenerationCounts> {
    return (await this.store()).counts();
  }

  async prune(rule: { before?: string; keep?: number }): Promise<Generation[]> {
    return (await this.store()).prune(rule);
  }
}

export class DeferredUploadStore extends Deferred<NedbUploadStore> implements UploadStore {
  async insert(upload: UploadRecord): Promise<void> {
    return (await this.store()).insert(upload);
  }

  async get(name: string): Promise<UploadRecord | undefined> {
    return (await this.store()).get(name);
  }

  async markUsed(name: string, generationId: string): Promise<void> {
    return (await this.store()).markUsed(name, generationId);
  }

  async unmarkUsed(name: string, generationId: string): Promise<void> {
    return (await this.store()).unmarkUsed(name, generationId);
  }

  async expired(before: string): Promise<UploadRecord[]> {
    return (await this.store()).expired(before);
  }

  async delete(name: string): Promise<void> {
    return (await this.store()).delete(name);
  }
}

export class DeferredIdempotencyStore extends Deferred<NedbIdempotencyStore> implements IdempotencyStore {
  async claim(record: IdempotencyRecord, since: string): Promise<IdempotencyRecord> {
    return (await this.store()).claim(record, since);
  }

  async get(scope: string, key: string): Promise<IdempotencyRecord | undefined> {
    return (await this.store()).get(scope, key);
  }

  async complete(scope: string, key: string, ref: string, answer: { status: number; body: unknown }): Promise<void> {
    return (await this.store()).complete(scope, key, ref, answer);
  }

  async release(scope: string, key: string, ref: string): Promise<void> {
    return (await this.store()).release(scope, key, ref);
  }

  async prune(before: string): Promise<number> {
    return (await this.store()).prune(before);
  }
}

export class DeferredClientBindingStore extends Deferred<NedbClientBindingStore> implements ClientBindingStore {
  async claim(binding: ClientBinding, now: number): Promise<ClientBinding> {
    return (await this.store()).claim(binding, now);
  }

  async get(clientId: string, now: number): Promise<ClientBinding | undefined> {
    return (await this.store()).get(clientId, now);
  }

  async countLive(owner: string, now: number): Promise<number> {
    return (await this.store()).countLive(owner, now);
  }

  async prune(now: number): Promise<number> {
    return (await this.store()).prune(now);
  }
}
