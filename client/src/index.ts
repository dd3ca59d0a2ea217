/** comfy-bridge client SDK: typed calls, resumable progress, typed errors. See docs/client.md. */
export { ComfyBridgeClient, type ClientOptions, type GenerateOptions, type UploadFiles } from './client.js';
export { Generation, type GenerationResult } from './generation.js';
export { FrameStream, type Backoff, type FollowOptions, type WebSocketConstructor, type WebSocketLike } from './socket.js';
export { BridgeApiError, ConnectionLostError, GenerationFailedError } from './errors.js';
export type * from './types.js';
export type { components, operations, paths } from './api.js';
