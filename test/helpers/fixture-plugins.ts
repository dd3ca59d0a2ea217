import { definePlugin, type PluginManifest } from '../../core/plugin.js';
import type { ServiceMap, ServiceName } from '../../core/services.js';

/** A test plugin that provides the given (usually scripted) services under their names. */
export function providing(name: string, services: Partial<ServiceMap>): PluginManifest<never> {
  const entries = Object.entries(services) as [ServiceName, ServiceMap[ServiceName]][];
  return definePlugin({
    name,
    provides: entries.map(([service]) => service),
    register(ctx) {
      for (const [service, implementation] of entries) ctx.provide(service, implementation);
    },
  }) as PluginManifest<never>;
}

/**
 * A test plugin that hands the test the named services once they are up: it depends on them, so it
 * registers after their providers, and `into` is filled before startBridge resolves.
 */
export function grabbing<K extends ServiceName>(name: string, services: readonly K[], into: Partial<Pick<ServiceMap, K>>): PluginManifest<never> {
  return definePlugin({
    name,
    dependencies: [...services],
    register(ctx) {
      for (const service of services) into[service] = ctx.use(service);
    },
  }) as PluginManifest<never>;
}
