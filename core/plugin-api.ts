/**
 * The public API for plugins written outside this repository: `import { definePlugin } from 'comfy-bridge/plugin'`.
 * Everything here is stable for plugin authors; the rest of core/ is internal.
 */
export { definePlugin } from './plugin.js';
export type { HttpMethod, JsonSchema, PluginContext, PluginManifest, PluginSetting, RecordedRoute, RouteDefinition, RouteResponse } from './plugin.js';
export * from './errors.js';
export { STAGE } from './hooks.js';
export type { Hooks } from './hooks.js';
export type { ServiceMap, ServiceName } from './services.js';
export type { BridgeConfig } from './config/schema.js';
