import { Type } from '@sinclair/typebox';
import { join } from 'node:path';
import type { Context } from 'koa';
import { BridgeError, notFound } from '../../core/errors.js';
import { ERROR_BODY } from '../../contracts/schemas.js';
import { definePlugin } from '../../core/plugin.js';
import { findVisibleGeneration } from '../../contracts/visible-generation.js';
import type { ResultStore } from './api.js';
import { etagOf, noneMatch, notModifiedSince, parseRange } from './conditional.js';
import { contentTypeFor } from './content-types.js';
import { DirectoryBlobStore } from './dir-blob-store.js';
import { CopiesAhead } from './copy-ahead.js';
import { copyOutputs, safeFileName } from './store.js';
import { DEFAULT_LOG_BYTES, restoreNamed, resultLogFor } from './log-replay.js';
import { FleetLogs } from './fleet-logs.js';
import { every } from '../../lib/every.js';

const PLUGIN = 'results';

/** In a fleet, how often an instance looks for dead instances' logs (option deadLogCheckMs): within a lease's life. */
const DEAD_LOG_CHECK_MS = 5000;

/** A generation id as a folder name: one safe path segment (no dots, so never `.` or `..`). */
const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** `http://host:port` as a client can use it: brackets for IPv6, a loopback for "every interface". */
export function origin(host: string, port: number): string {
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

export default definePlugin({
  name: PLUGIN,
  description: 'The result files: copied from ComfyUI, named, typed, addressed, and served by GET /results/:id/:file (ETag, Range).',
  dependencies: ['storage'],
  // Files go through a blob store: a plugin's (an object store, later) when one is enabled, else the data dir.
  optionalDependencies: ['blobs'],
  provides: ['results'],
  options: Type.Object(
    {
      logBytes: Type.Optional(
        Type.Integer({
          minimum: 0,
          description:
            'Size of the write-ahead log of small result files (<dataDir>/results.wal; in a fleet on PostgreSQL one ' +
            '<dataDir>/results-<random>.wal per instance), made durable there before their rows and synced in place later; ' +
            '0: no log, each file synced before its row. Default 8 MiB.',
        }),
      ),
      fileSyncDelayMs: Type.Optional(
        Type.Integer({
          minimum: 0,
          description:
            'How long after a logged file is written its own syncs are made (a batch of files shares them); its record ' +
            'stays in the log until then. Default 10 ms.',
        }),
      ),
      deadLogCheckMs: Type.Optional(
        Type.Integer({
          minimum: 100,
          description:
            'In a fleet: how often an instance looks for the results logs of instances that are gone (replayed, then ' +
            'removed). Default 5000 ms.',
        }),
      ),
    },
    { additionalProperties: false },
  ),
  register(ctx) {
    const storage = ctx.use('storage');
    const { server, dataDir } = ctx.config;
    const given = ctx.tryUse('blobs');
    // Files durable before the rows that name them, unless the rows are not synced either (storage-nedb syncWrites: false).
    const sync = storage.syncsWrites !== false;
    const locks = storage.shared === true ? storage.processLocks : undefined;
    const log = !given && sync ? resultLogFor(dataDir, ctx.options.logBytes ?? DEFAULT_LOG_BYTES, { shared: storage.shared === true, canHoldNames: locks !== undefined }) : undefined;
    const blobs = given ?? new DirectoryBlobStore(dataDir, { sync, log, laterSyncsAfterMs: ctx.options.fileSyncDelayMs });
    // The real port is only known once listening (port 0 picks one).
    let port = server.port;
    const publicUrl = server.publicUrl?.replace(/\/+$/, '') ?? null;
    /** `results/<id>/`: a generation's files, one key prefix (one folder in the directory store). */
    const prefixOf = (id: string) => {
      if (!SAFE_ID.test(id)) throw notFound(`no generation ${id}`);
      return `results/${id}/`;
    };
    const keyOf = (id: string, filename: string) => {
      // Only names the bridge itself made are ever turned into a key.
      if (safeFileName(filename) !== filename) throw notFound(`no result ${filename}`);
      return `${prefixOf(id)}${filename}`;
    };
    const restore = log ? restoreNamed(storage.generations, blobs) : undefined;
    // In a fleet: this instance's log under a name it holds, and the logs of instances that are gone replayed.
    const fleet = log && locks ? new FleetLogs(dataDir, log, locks, restore!) : undefined;
    const replayDead = async (): Promise<void> => {
      try {
        const dead = await fleet!.replayDead();
        if (dead.replayed.length > 0) ctx.log.warn(dead, 'the results logs of instances that are gone were replayed and removed');
      } catch (error) {
        ctx.log.warn({ err: error }, 'could not replay the results logs of instances that are gone; tried again later');
      }
    };
    const opened = fleet
      ? fleet.open(() => {
          ctx.log.warn({ log: log!.path }, 'lost the hold on this instance\'s results log: each file is synced before its row from now on');
          // The files the log still holds synced now, not in a moment: another instance may replay and remove it.
          if (blobs instanceof DirectoryBlobStore) void blobs.settled();
        })
      : log?.open(restore!).then((restored) => {
          if (restored > 0) ctx.log.warn({ restored, log: log.path }, 'result files lost since their rows were written were restored from the write-ahead log');
        });
    // The log replayed before any result is served (GET /results waits for it); appends are refused until then.
    const replayed = opened
      ?.catch((error: unknown) => ctx.log.error({ err: error, log: log!.path }, 'could not replay or ready the results write-ahead log (its records are kept for the next start): each file is synced before its row meanwhile'))
      .then(() => (fleet ? replayDead() : undefined));
    const deadLogChecks = fleet ? every(ctx.options.deadLogCheckMs ?? DEAD_LOG_CHECK_MS, () => replayed!.then(replayDead), ctx.clock) : undefined;
    /** Files copied when ComfyUI announced them, into a folder readied by prepare. */
    const ahead = new CopiesAhead(blobs);
    /** Folders readied ahead of their copy (prepare): resolves true once made empty, false when that failed. */
    const prepared = new Map<string, Promise<boolean>>();
    /** Folder work started and not awaited by anyone (a prepare, a discard): the plugin's close waits for it. */
    const unawaited = new Set<Promise<unknown>>();
    const track = (work: Promise<unknown>): void => {
      unawaited.add(work);
      void work.finally(() => unawaited.delete(work));
    };
    // After generations closed (it registered later, so it closes first): no folder appears in the data dir
    // once the bridge has stopped.
    ctx.onClose(async () => {
      await deadLogChecks?.stop();
      await Promise.all([...unawaited, ahead.idle(), replayed]);
      // The files the log holds synced in place, then the log closed (and in a fleet removed, its name let go).
      if (blobs instanceof DirectoryBlobStore) await blobs.settled();
      await log?.close();
      await fleet?.close();
    });
    const results: ResultStore = {
      async copy(id, outputs, fetch, run) {
        const ready = prepared.get(id);
        prepared.delete(id);
        const copied = await ahead.take(id, run ?? '', outputs);
        if (copied) return copied;
        // Not these outputs (or a copy ahead failed): copied anew, into the folder emptied first.
        return copyOutputs(blobs, prefixOf(id), outputs, fetch, copied === false ? undefined : ready);
      },
      copyAhead(id, run, outputs, fetch) {
        const ready = prepared.get(id);
        return ready ? ahead.announce(id, prefixOf(id), run, outputs, fetch, ready) : 0;
      },
      prepare(id) {
        if (prepared.has(id) || !blobs.resetPrefix) return;
        let made: Promise<void>;
        try {
          made = blobs.resetPrefix(prefixOf(id));
        } catch (error) {
          made = Promise.reject(error);
        }
        const ready = made.then(
          () => true,
          (error: unknown) => {
            ctx.log.debug({ err: error, genId: id }, 'could not ready the result folder ahead of its copy; the copy makes it');
            return false;
          },
        );
        prepared.set(id, ready);
        track(ready);
      },
      discard(id, keep = false) {
        const ready = prepared.get(id);
        if (!ready) return;
        prepared.delete(id);
        // Files copied ahead (the run ended without using them) go with the folder, once their copies have ended.
        const copiesEnded = ahead.settled(id);
        if (keep) return;
        track(
          Promise.all([ready, copiesEnded])
            .then(([made]) => (made ? blobs.deletePrefix(prefixOf(id)) : undefined))
            .catch((error: unknown) => ctx.log.warn({ err: error, genId: id }, 'could not remove the result folder of a generation that ended without results')),
        );
      },
      restored: async () => {
        await replayed;
      },
      path(id, filename) {
        const key = keyOf(id, filename);
        return blobs.localPath?.(key) ?? join(ctx.config.dataDir, key);
      },
      url: (id, filename) => `${publicUrl ?? origin(server.host, port)}/results/${encodeURIComponent(id)}/${encodeURIComponent(filename)}`,
      remove: (id) => blobs.deletePrefix(prefixOf(id)),
      contentTypeFor: (filename, declared) => contentTypeFor(filename, declared ?? null),
    };
    ctx.provide('results', results);
    ctx.hooks.listening.tap({ name: PLUGIN }, (httpServer) => {
      const address = httpServer.address();
      if (address && typeof address === 'object') port = address.port;
      if (!publicUrl && (server.host === '0.0.0.0' || server.host === '::')) {
        ctx.log.warn('listening on every interface without server.publicUrl: result URLs point at the loopback address');
      }
    });

    ctx.route({
      method: 'get',
      path: '/results/:id/:file',
      summary: 'One result file of a generation',
      description:
        'The file as copied from ComfyUI when the generation completed. Supports ETag / If-None-Match (304), ' +
        'Last-Modified / If-Modified-Since, and single byte ranges (206; 416 when unsatisfiable). Same visibility as history.',
      tags: ['results'],
      responses: {
        200: { description: 'The whole file', contentType: 'application/octet-stream' },
        206: { description: 'The requested byte range', contentType: 'application/octet-stream' },
        304: { description: 'Not modified (If-None-Match / If-Modified-Since)' },
        404: { description: 'Unknown generation or file', schema: ERROR_BODY },
        416: { description: 'The range lies beyond the end of the file', schema: ERROR_BODY },
      },
      async handler(http: Context, { principal }) {
        const { id, file } = http.params as { id: string; file: string };
        // Results exist only for completed generations, which are stored: the store answers.
        const gen = await findVisibleGeneration(storage.generations, { id }, principal);
        if (!gen) throw notFound(`no generation ${id}`);
        // Only names recorded at copy time are served; the request never builds a path by itself.
        const result = gen.results.find((r) => r.filename === file);
        if (!result) throw notFound(`generation ${id} has no result named ${file}`);
        const key = keyOf(gen.id, result.filename);
        if (replayed) await replayed;
        const blob = await blobs.stat(key);
        if (!blob) throw notFound(`the result ${file} of generation ${id} is no longer stored`);
        const stats = { size: blob.size, mtime: blob.modifiedAt, mtimeMs: blob.modifiedAt.getTime() };

        const etag = etagOf(result, stats);
        http.set('ETag', etag);
        http.set('Last-Modified', stats.mtime.toUTCString());
        http.set('Accept-Ranges', 'bytes');
        http.set('Cache-Control', 'private, max-age=31536000, immutable');
        http.set('X-Content-Type-Options', 'nosniff');
        // A result is whatever a workflow wrote: never let it run as a page on the bridge's origin.
        http.set('Content-Security-Policy', "default-src 'none'; sandbox");
        const ifNoneMatch = http.get('If-None-Match') || undefined;
        if (ifNoneMatch ? noneMatch(ifNoneMatch, etag) : notModifiedSince(http.get('If-Modified-Since') || undefined, stats)) {
          http.status = 304;
          return;
        }

        const ifRange = http.get('If-Range');
        const rangeAllowed = !ifRange || ifRange === etag || (!ifRange.startsWith('"') && !ifRange.startsWith('W/') && Date.parse(ifRange) >= Math.floor(stats.mtimeMs / 1000) * 1000);
        const range = rangeAllowed ? parseRange(http.get('Range') || undefined, stats.size) : { kind: 'full' as const };
        if (range.kind === 'unsatisfiable') {
          throw new BridgeError(416, 'range_not_satisfiable', `the range lies beyond the end of ${file} (${stats.size} bytes)`, {
            headers: { 'Content-Range': `bytes */${stats.size}` },
          });
        }
        const [start, end] = range.kind === 'partial' ? [range.start, range.end] : [0, stats.size - 1];
        const length = stats.size === 0 ? 0 : end - start + 1;
        if (http.method === 'HEAD') {
          http.body = null;
        } else {
          http.body = length === 0 ? Buffer.alloc(0) : blobs.read(key, { start, end });
        }
        http.status = range.kind === 'partial' ? 206 : 200;
        if (range.kind === 'partial') http.set('Content-Range', `bytes ${start}-${end}/${stats.size}`);
        http.type = result.contentType;
        http.length = length;
      },
    });
  },
});
