import type { Principal } from '../../contracts/auth.js';
import type { UploadService } from '../../plugins/upload/api.js';
import type { WorkflowInput } from '../../plugins/workflows/api.js';
import { BridgeError, badRequest, payloadTooLarge } from '../../core/errors.js';
import { OutboundRefused, OutboundTooLarge, outboundRequest, type Resolver } from '../../lib/outbound.js';
import type { ImageInputOptions } from './options.js';

export interface RemoteImages {
  inputs: Record<string, WorkflowInput>;
  values: Record<string, unknown>;
  clientId: string;
  principal: Principal;
  uploads: UploadService | undefined;
  options: ImageInputOptions;
  resolve: Resolver | undefined;
}

const DATA_URL = /^data:([^;,]*)(;base64)?,/i;
const HTTP_URL = /^https?:\/\//i;

/** Whether a value is an image given inline or by URL rather than by stored name. */
export const isRemoteImage = (value: unknown): value is string => typeof value === 'string' && (DATA_URL.test(value) || HTTP_URL.test(value));

function decodeDataUrl(key: string, value: string, maxBytes: number): Buffer {
  const match = DATA_URL.exec(value)!;
  if (!match[2]) throw badRequest(`${JSON.stringify(key)}: a data: URL image must be base64 (data:image/png;base64,...)`);
  const payload = value.slice(match[0].length);
  // Refused before decoding: base64 is 4 characters per 3 bytes.
  if (Math.floor((payload.length * 3) / 4) > maxBytes + 2) throw payloadTooLarge(`${JSON.stringify(key)}: the image is larger than ${maxBytes} bytes`);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(payload) || payload.length % 4 !== 0) throw badRequest(`${JSON.stringify(key)}: the data: URL is not valid base64`);
  const bytes = Buffer.from(payload, 'base64');
  if (bytes.length > maxBytes) throw payloadTooLarge(`${JSON.stringify(key)}: the image is larger than ${maxBytes} bytes`);
  return bytes;
}

async function fetchImage(key: string, url: string, options: ImageInputOptions, resolve: Resolver | undefined): Promise<Buffer> {
  if (!options.urls) throw badRequest(`${JSON.stringify(key)}: image URLs are not accepted by this bridge (generate.imageInputs.urls); upload the image or send a data: URL`);
  try {
    const answer = await outboundRequest(
      url,
      { allowHosts: options.allowHosts, allowPrivateAddresses: options.allowPrivateAddresses, resolve },
      { method: 'GET', headers: { accept: 'image/*' }, timeoutMs: options.timeoutMs, maxBytes: options.maxBytes },
    );
    if (answer.status < 200 || answer.status > 299) {
      throw badRequest(`${JSON.stringify(key)}: fetching the image answered HTTP ${answer.status}${answer.status >= 300 && answer.status < 400 ? ' (redirects are not followed)' : ''}`);
    }
    return answer.body;
  } catch (error) {
    if (error instanceof BridgeError) throw error;
    if (error instanceof OutboundTooLarge) throw payloadTooLarge(`${JSON.stringify(key)}: ${error.message}`, { cause: error });
    if (error instanceof OutboundRefused) throw badRequest(`${JSON.stringify(key)}: image URL refused: ${error.message}`, { cause: error });
    // The client's URL did not work (no such host, connection refused or reset): the client's to fix.
    throw badRequest(`${JSON.stringify(key)}: could not fetch the image (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
  }
}

/**
 * Image inputs given as a data: URL or an http(s) URL are fetched (URLs: off by default, allowed
 * hosts only, internal addresses refused on the connection itself), then checked and stored exactly
 * like an upload of this client; the value becomes the stored name, so everything after this treats
 * it as an upload. Returns how many were stored.
 */
export async function storeRemoteImages({ inputs, values, clientId, principal, uploads, options, resolve }: RemoteImages): Promise<number> {
  let stored = 0;
  for (const [key, input] of Object.entries(inputs)) {
    const value = values[key];
    if (input.kind !== 'image' || !isRemoteImage(value)) continue;
    if (DATA_URL.test(value) && !options.dataUrls) throw badRequest(`${JSON.stringify(key)}: data: URL images are not accepted by this bridge (generate.imageInputs.dataUrls)`);
    if (!uploads?.ingest) throw badRequest(`${JSON.stringify(key)}: image inputs by URL need the upload plugin, which is not loaded`);
    const bytes = DATA_URL.test(value) ? decodeDataUrl(key, value, options.maxBytes) : await fetchImage(key, value, options, resolve);
    const record = await uploads.ingest(bytes, key, clientId, principal);
    values[key] = record.name;
    stored++;
  }
  return stored;
}
