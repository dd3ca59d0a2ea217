import { createHash } from 'node:crypto';
import { extname } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import type { BlobStore } from '../../contracts/blob-store.js';
import type { ResultFile } from '../../contracts/generation.js';
import type { FetchedOutput, OutputRef } from '../../contracts/transport.js';
import { contentTypeFor } from './content-types.js';
import type { FetchOutput } from './api.js';
import { markLife } from '../../contracts/life-marks.js';

const MAX_NAME = 120;

/**
 * A file name safe to create inside the result folder: the last path segment only, control and
 * unusual characters replaced, no leading dots (so never `.` or `..`), bounded length.
 */
export function safeFileName(raw: string): string {
  const base = raw.split(/[\\/]/).pop() ?? '';
  let name = base.replace(/[\u0000-\u001f\u007f]/g, '').replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '');
  if (name.length > MAX_NAME) {
    const ext = extname(name).slice(0, 16);
    name = name.slice(0, MAX_NAME - ext.length) + ext;
  }
  return name === '' || /^\.*$/.test(name) ? 'output' : name;
}

/** `name`, or `stem_2.ext`, `stem_3.ext`… — unique even on case-insensitive file systems. */
export function uniqueName(name: string, taken: Set<string>): string {
  const ext = extname(name);
  const stem = name.slice(0, name.length - ext.length) || 'output';
  let candidate = name;
  for (let n = 2; taken.has(candidate.toLowerCase()); n += 1) candidate = `${stem}_${n}${ext}`;
  taken.add(candidate.toLowerCase());
  return candidate;
}

/** Outputs can appear twice (an `executed` frame and history); one copy each. */
export function distinct(outputs: readonly OutputRef[]): OutputRef[] {
  const seen = new Set<string>();
  return outputs.filter((ref) => {
    const key = outputKey(ref);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** What tells one output from another (its node, kind and where ComfyUI saved it). */
export const outputKey = (ref: OutputRef): string => JSON.stringify([ref.node, ref.kind, ref.type, ref.subfolder, ref.filename]);

/**
 * Copies every output into the blobs under `prefix` (`results/<id>/`; emptied first, so a copy repeated
 * after a restart starts clean). Throws with a readable message naming the output that could not be
 * copied; the prefix is then emptied. `ready`: the prefix was readied (emptied) ahead of the copy while
 * ComfyUI ran (true once done; false when that failed, and the copy empties it itself).
 */
export async function copyOutputs(blobs: BlobStore, prefix: string, outputs: readonly OutputRef[], fetchOutput: FetchOutput, ready?: Promise<boolean>): Promise<ResultFile[]> {
  const files = distinct(outputs);
  // The first output is asked for first: its request leaves before the file calls below are dispatched.
  const first = files.length > 0 ? fetchFirst(fetchOutput, files[0]!) : undefined;
  // Emptied while the first output is fetched (it must be empty before anything is put in it); a store
  // that can ready the prefix for the puts in the same call does (the directory store: one mkdir).
  const reset = () => (files.length > 0 && blobs.resetPrefix ? blobs.resetPrefix(prefix) : blobs.deletePrefix(prefix));
  const emptied = ready ? ready.then((made) => (made ? undefined : reset())) : reset();
  emptied.catch(() => undefined);
  const taken = new Set<string>();
  const results: ResultFile[] = [];
  try {
    for (const [index, ref] of files.entries()) {
      const filename = uniqueName(safeFileName(ref.filename), taken);
      results.push(await copyOne(blobs, prefix, ref, filename, index === 0 ? first! : fetchOutput(ref), emptied));
    }
    await emptied;
  } catch (error) {
    await blobs.deletePrefix(prefix).catch(() => undefined);
    throw error;
  }
  return results;
}

/**
 * One output, being fetched (`fetching`), put under `prefix` as `filename` once the prefix is `emptied`. Throws a
 * readable message naming the output; what it put stays (the caller empties the prefix).
 */
export async function copyOne(blobs: BlobStore, prefix: string, ref: OutputRef, filename: string, fetching: ReturnType<FetchOutput>, emptied: Promise<unknown>): Promise<ResultFile> {
  let fetched;
  try {
    fetched = await fetching;
    markLife('results: body answered');
  } catch (error) {
    throw new Error(`output ${ref.filename} of node ${ref.node} could not be fetched from ComfyUI: ${(error as Error).message}`, { cause: error });
  }
  // A body that fails while the folder is readied is reported as the copy's failure.
  let early: Error | undefined;
  const onEarly = (error: Error) => (early = error);
  fetched.stream.once('error', onEarly);
  await emptied.catch((error: unknown) => {
    fetched.stream.destroy();
    throw error;
  });
  fetched.stream.off('error', onEarly);
  const key = `${prefix}${filename}`;
  let copied: { size: number; sha256: string };
  try {
    if (early) throw early;
    copied =
      blobs.putBytes && fetched.length !== null && fetched.length <= SMALL_FILE_BYTES
        ? await putWhole(blobs, key, fetched, fetched.length)
        : await putStreamed(blobs, key, fetched.stream);
  } catch (error) {
    throw new Error(`output ${ref.filename} of node ${ref.node} could not be copied: ${(error as Error).message}`, { cause: error });
  }
  markLife('results: file in place');
  const { size } = copied;
  if (fetched.length !== null && fetched.length !== size) {
    throw new Error(`output ${ref.filename} of node ${ref.node} arrived truncated (${size} of ${fetched.length} bytes)`);
  }
  return {
    filename,
    contentType: contentTypeFor(filename, fetched.contentType),
    size,
    node: ref.node,
    kind: ref.kind,
    sha256: copied.sha256,
  };
}

/**
 * A file ComfyUI announced at most this large is read whole into memory and written with one
 * `putBytes` (no stream, no Transform, synchronous file calls in the directory store); larger ones stream.
 */
const SMALL_FILE_BYTES = 1024 * 1024;

/**
 * The body read whole (it said how long it is; a transport that holds it already gives it as `bytes`), hashed once,
 * written in one call; a short body is put as it came (the caller reports it truncated).
 */
async function putWhole(blobs: BlobStore, key: string, fetched: FetchedOutput, declared: number): Promise<{ size: number; sha256: string }> {
  const bytes = fetched.bytes ?? (await readWhole(fetched.stream, declared));
  markLife('results: body read');
  const size = bytes.length;
  if (size !== declared) return { size, sha256: '' };
  // Hashed while the put waits on the disk (its sync), not after.
  const put = blobs.putBytes!(key, bytes);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  await put;
  return { size, sha256 };
}

/** A body of `declared` bytes read whole; reading stops past them (the caller's size check reports it). */
async function readWhole(body: Readable, declared: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    chunks.push(chunk);
    if (size > declared) {
      body.destroy();
      break;
    }
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

/** The body streamed into the store, measured and hashed on its way. */
async function putStreamed(blobs: BlobStore, key: string, body: Readable): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  const measure = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  body.once('error', (error) => measure.destroy(error));
  await blobs.put(key, body.pipe(measure));
  return { size, sha256: hash.digest('hex') };
}

/** Starts fetching an output; a synchronous throw becomes the rejection the copy awaits (and reports). */
export function fetchFirst(fetchOutput: FetchOutput, ref: OutputRef): ReturnType<FetchOutput> {
  let fetching: ReturnType<FetchOutput>;
  try {
    fetching = fetchOutput(ref);
  } catch (error) {
    fetching = Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
  fetching.catch(() => undefined);
  return fetching;
}
