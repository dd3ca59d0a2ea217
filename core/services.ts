import { BootError } from './errors.js';

/**
 * The typed service registry: plugins reach each other through named services instead of imports
 * between plugin folders. The kernel lists none: each plugin adds its own names by declaration
 * merging in its api.ts (shared ports do it in contracts/), the way fastify plugins type decorators:
 *   declare module 'comfy-bridge/plugin' { interface ServiceMap { mine: MyService } }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled by declaration merging
export interface ServiceMap {}
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
