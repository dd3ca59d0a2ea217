import type { Storage } from './contracts/storage.js';
import type { Transport } from './contracts/transport.js';
import type { WorkflowRegistry } from './contracts/workflow.js';
import type { UploadService } from './contracts/uploads.js';
import type { AccessControl } from './contracts/auth.js';
import type { WsStats } from './contracts/ws.js';
import { BootError } from './errors.js';

/**
 * The typed service registry: plugins reach each other through named services instead of imports
 * between plugin folders. A plugin outside this repo adds its own names by declaration merging:
 *   declare module 'comfy-bridge/core/services.js' { interface ServiceMap { mine: MyService } }
 */
export interface ServiceMap {
  storage: Storage;
  transport: Transport;
  workflows: WorkflowRegistry;
  uploads: UploadService;
  access: AccessControl;
  wsStats: WsStats;
}

export type ServiceName = keyof ServiceMap & string;

export class ServiceRegistry {
  readonly #services = new Map<string, { owner: string; service: unknown }>();

  provide<K extends ServiceName>(owner: string, name: K, service: ServiceMap[K]): void {
    const existing = this.#services.get(name);
    if (existing) {
      throw new BootError(`plugin "${owner}" provides service "${name}", already provided by plugin "${existing.owner}"`);
    }
    this.#services.set(name, { owner, service });
  }

  use<K extends ServiceName>(name: K, user: string): ServiceMap[K] {
    const entry = this.#services.get(name);
    if (!entry) {
      throw new BootError(`plugin "${user}" uses service "${name}", which no loaded plugin provides`);
    }
    return entry.service as ServiceMap[K];
  }

  tryUse<K extends ServiceName>(name: K): ServiceMap[K] | undefined {
    return this.#services.get(name)?.service as ServiceMap[K] | undefined;
  }
}
