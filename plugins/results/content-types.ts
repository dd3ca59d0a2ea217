import { extname } from 'node:path';

const BY_EXTENSION: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.bmp': 'image/bmp',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.svg': 'image/svg+xml',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.mov': 'video/quicktime',
  '.mkv': 'video/x-matroska',
  '.mp3': 'audio/mpeg',
  '.wav': 'audio/wav',
  '.flac': 'audio/flac',
  '.ogg': 'audio/ogg',
  '.opus': 'audio/ogg',
  '.m4a': 'audio/mp4',
  '.txt': 'text/plain; charset=utf-8',
  '.json': 'application/json',
  '.glb': 'model/gltf-binary',
  '.gltf': 'model/gltf+json',
  '.latent': 'application/octet-stream',
  '.safetensors': 'application/octet-stream',
};

const GENERIC = new Set(['', 'application/octet-stream', 'binary/octet-stream']);

/**
 * The type to serve a result with: what ComfyUI declared unless it is generic, else the extension's.
 * Active content types are never passed through as-is: a result is served from the bridge's origin.
 */
export function contentTypeFor(filename: string, declared: string | null | undefined): string {
  const clean = (declared ?? '').split(';')[0]!.trim().toLowerCase();
  const byExt = BY_EXTENSION[extname(filename).toLowerCase()];
  if (clean === 'text/html' || clean === 'application/xhtml+xml' || clean === 'application/javascript' || clean === 'text/javascript') {
    return 'application/octet-stream';
  }
  if (!GENERIC.has(clean) && /^[a-z0-9.+-]+\/[a-z0-9.+-]+$/.test(clean)) return declared!.trim();
  return byExt ?? 'application/octet-stream';
}
