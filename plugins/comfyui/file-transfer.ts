import { openAsBlob } from 'node:fs';
import { backendUnavailable, type FetchedOutput, type OutputRef } from '../../contracts/transport.js';
import { badRequest, notFound } from '../../core/errors.js';
import type { BackendConnection } from './backend-connection.js';
import { isObject } from './protocol.js';
import { unreachableAs503 } from './unreachable.js';

/** Puts a file in the backend's input folder; resolves with the name ComfyUI gave it (`subfolder/name`). */
export async function uploadInput(backend: BackendConnection, file: { path: string; name: string; contentType: string }): Promise<string> {
  const form = new FormData();
  form.append('image', await openAsBlob(file.path, { type: file.contentType }), file.name);
  form.append('type', 'input');
  form.append('overwrite', 'false');
  const res = await unreachableAs503(backend, () => backend.http.json('POST', '/upload/image', form));
  if (res.status !== 200 || !isObject(res.body) || typeof res.body.name !== 'string') {
    if (res.status >= 400 && res.status < 500) {
      throw badRequest(`ComfyUI backend ${backend.name} refused the upload of ${file.name} (HTTP ${res.status})`);
    }
    throw backendUnavailable(`ComfyUI backend ${backend.name} answered HTTP ${res.status} to the upload`);
  }
  const subfolder = typeof res.body.subfolder === 'string' ? res.body.subfolder : '';
  return subfolder ? `${subfolder}/${res.body.name}` : res.body.name;
}

/**
 * Opens an output file on the backend as a stream (not buffered: outputs can be large): from its folder when this
 * machine sees it (local-outputs.ts), else with GET /view.
 */
export function openOutput(backend: BackendConnection, ref: OutputRef): Promise<FetchedOutput> {
  // Without local folders the request is made in this call, not a promise job later: it then leaves before the work
  // of a frame that came with the `executed` announcing the output (runner.ts, #listener).
  if (!backend.outputs) return fetchOutput(backend, ref);
  return backend.outputs.open(ref).then((local) => local ?? fetchOutput(backend, ref));
}

/** An output asked for with GET /view. */
async function fetchOutput(backend: BackendConnection, ref: OutputRef): Promise<FetchedOutput> {
  const res = await unreachableAs503(backend, () =>
    backend.http.open('/view', { filename: ref.filename, subfolder: ref.subfolder, type: ref.type }),
  );
  if (res.status !== 200) {
    res.body.destroy();
    if (res.status >= 400 && res.status < 500) {
      throw notFound(`output ${ref.filename} is not available on ComfyUI backend ${backend.name} (HTTP ${res.status})`);
    }
    throw backendUnavailable(`ComfyUI backend ${backend.name} answered HTTP ${res.status} for output ${ref.filename}`);
  }
  const length = res.header('content-length');
  const declared = Number(length);
  return {
    stream: res.body,
    contentType: res.header('content-type') ?? 'application/octet-stream',
    length: length !== undefined && Number.isFinite(declared) ? declared : null,
  };
}
