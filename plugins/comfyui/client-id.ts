import { randomUUID } from 'node:crypto';
import type { KeyValueStore } from '../../contracts/storage.js';

export const CLIENT_ID_KEY = 'comfyui.clientId';

/**
 * The bridge's own ComfyUI clientId. ComfyUI sends a prompt's events only to the socket of the
 * clientId that submitted it, so the id must survive a bridge restart for in-flight prompts to
 * keep reporting here. Without storage it lives for this process only.
 */
export async function loadClientId(kv: KeyValueStore | undefined): Promise<{ clientId: string; persisted: boolean }> {
  if (!kv) return { clientId: randomUUID(), persisted: false };
  const stored = await kv.get<unknown>(CLIENT_ID_KEY);
  if (typeof stored === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(stored)) return { clientId: stored, persisted: true };
  const clientId = randomUUID();
  await kv.set(CLIENT_ID_KEY, clientId);
  return { clientId, persisted: true };
}
