import { definePlugin } from '../../core/plugin.js';
import { loadClientId } from './client-id.js';
import { ComfyTransport } from './comfy-transport.js';
import { optionsSchema, resolveOptions } from './options.js';
import type { ComfyuiOptions } from './options.js';

const PLUGIN = 'comfyui';

/** "http://a:8188, http://b:8188" → [{url}, {url}] for COMFY_BRIDGE_COMFYUI_URLS and --comfyui. */
const backendList = (raw: string) =>
  raw
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url.length > 0)
    .map((url) => ({ url }));

export default definePlugin<ComfyuiOptions>({
  name: PLUGIN,
  description: 'Transport to one or more ComfyUI servers (HTTP + websocket), with reconnect and history recovery.',
  optionalDependencies: ['storage'],
  provides: ['transport'],
  options: optionsSchema,
  env: {
    COMFY_BRIDGE_COMFYUI_URLS: { key: 'backends', parse: backendList, description: 'Comma-separated ComfyUI base URLs.' },
  },
  flags: {
    comfyui: { key: 'backends', parse: backendList, value: 'URL[,URL...]', description: 'ComfyUI base URLs, comma-separated.' },
  },
  async register(ctx) {
    const storage = ctx.tryUse('storage');
    const { clientId, persisted } = await loadClientId(storage);
    if (!storage) ctx.log.warn('no storage service: the ComfyUI clientId will change on restart');
    else if (!persisted) ctx.log.info({ clientId }, 'shared store: this instance has its own ComfyUI clientId');
    const transport = new ComfyTransport(resolveOptions(ctx.options, { shared: storage?.shared === true }), clientId, ctx.log);
    ctx.provide('transport', transport);
    ctx.onClose(() => transport.close());
    // Background: the server starts even when no backend is up.
    transport.start();
  },
});
