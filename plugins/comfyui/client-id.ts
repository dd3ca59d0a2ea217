import { randomUUID } from 'node:crypto';
import type { Storage } from '../../contracts/storage.js';

export const CLIENT_ID_KEY = 'comfyui.clientId';

/**
 * The bridge's own ComfyUI clientId. ComfyUI sends a prompt's events only to the socket of the
 * clientId that submitted it, so the id must survive a bridge restart for in-flight prompts to
 * keep reporting here. Without storage it lives for this process only. On a store several instances
 * share it is this process's own too: ComfyUI sends events only to the newest socket of a clientId, so
 * instances sharing one would take each other's events; a prompt a survivor adopts from a dead
 * instance is followed through /history instead.
 */
export async function loadClientId(storage: Pick<Storage, 'kv' | 'shared'> | undefined): Promise<{ clientId: string; persisted: boolean }> {
  const kv = storage?.kv;
  if (!kv || storage.shared) return { clientId: randomUUID(), persisted: false };
  const stored = await kv.get<unknown>(CLIENT_ID_KEY);
  if (typeof stored === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(stored)) return { clientId: stored, persisted: true };
  const clientId = randomUUID();
  await kv.set(CLIENT_ID_KEY, clientId);
  return { clientId, persisted: true };
}
