/**
 * The public API for plugins written outside this repository: `import { definePlugin } from 'comfy-bridge/plugin'`.
 * Everything here is stable for plugin authors; the rest of core/ is internal. It lives beside core/
 * (not in it) because it also gathers the domain types: the shared contracts and each built-in
 * plugin's api.ts, whose declaration merging fills ServiceMap, so `ctx.use('generations')` is typed.
 */
export { definePlugin } from './core/plugin.js';
export type { HttpMethod, JsonSchema, PluginContext, PluginManifest, PluginSetting, RecordedRoute, RouteDefinition, RouteResponse } from './core/plugin.js';
export * from './core/errors.js';
export { STAGE } from './core/hooks.js';
export type { Hooks } from './core/hooks.js';
export type { Clock, Timer } from './core/timers.js';
export { every } from './lib/every.js';
export type { ServiceMap, ServiceName } from './core/services.js';
export type { BridgeConfig } from './core/config/schema.js';

export type { Bus, BusMessage } from './contracts/bus.js';
export type { ClientFrame } from './contracts/client-frame.js';
export type { Storage } from './contracts/storage.js';
export type { Transport, TransportEvent } from './contracts/transport.js';
/** The transport's 503 `backend_unavailable` (it was with the kernel's errors; the name and behaviour are unchanged). */
export { backendUnavailable } from './contracts/transport.js';
export type { Generation, GenerationState } from './contracts/generation.js';
export type { Graph } from './contracts/graph.js';
export type { AccessControl } from './contracts/auth.js';
export type { GenerationService, GenerationHooks, SubmitInfo } from './plugins/generations/api.js';
export type { ResultStore } from './plugins/results/api.js';
export type { WorkflowRegistry } from './plugins/workflows/api.js';
export type { UploadService } from './plugins/upload/api.js';
export type { WsStats } from './plugins/ws/api.js';
