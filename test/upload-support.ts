import { readdir } from 'node:fs/promises';
import sharp from 'sharp';
import { join, relative } from 'node:path';
import { ANONYMOUS, type Principal } from '../contracts/auth.js';
import type { Storage } from '../contracts/storage.js';
import type { UploadService } from '../plugins/upload/api.js';
import { definePlugin, type PluginManifest } from '../core/plugin.js';

/** Shared by the upload tests: requests, file listings, and a fixture plugin that exposes services. */

export interface UploadAnswer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

export async function postUpload(baseUrl: string, body: FormData | string | Uint8Array, query = '?clientId=client-1', headers: Record<string, string> = {}): Promise<UploadAnswer> {
  const response = await fetch(`${baseUrl}/upload${query}`, { method: 'POST', body, headers });
  return { status: response.status, body: (await response.json()) as Record<string, unknown>, headers: response.headers };
}

export function form(parts: { field: string; bytes: Uint8Array; filename?: string; type?: string }[]): FormData {
  const data = new FormData();
  for (const part of parts) data.append(part.field, new Blob([part.bytes], { type: part.type ?? 'application/octet-stream' }), part.filename ?? 'image.bin');
  return data;
}

/** Every file below `root`, as paths relative to it (folders themselves are not listed). */
export async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => !entry.isDirectory())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
    .sort();
}

export interface Grabbed {
  uploads?: UploadService;
  storage?: Storage;
}

/** A test plugin that hands the tests the services the upload plugin provides and uses. */
export function grabServices(grabbed: Grabbed): PluginManifest<never> {
  return definePlugin({
    name: 'grab-services',
    dependencies: ['uploads', 'storage'],
    register(ctx) {
      grabbed.uploads = ctx.use('uploads');
      grabbed.storage = ctx.use('storage');
    },
  }) as PluginManifest<never>;
}

export const CLIENT_ONLY = (id: string): Principal => ({ id, scopes: ['client'], anonymous: false });
export { ANONYMOUS };

/** Whether two encoded images decode to the same size and the same RGBA pixels (every frame). */
export async function samePixels(a: Uint8Array, b: Uint8Array): Promise<boolean> {
  const decode = (bytes: Uint8Array) => sharp(bytes, { animated: true }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const [left, right] = await Promise.all([decode(a), decode(b)]);
  return left.info.width === right.info.width && left.info.height === right.info.height && left.data.equals(right.data);
}
