import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Context } from 'koa';
import { ANONYMOUS, type Principal } from '../../contracts/auth.js';
import { BridgeError, notFound } from '../../core/errors.js';
import { ERROR_BODY } from '../../core/http/schemas.js';
import { definePlugin } from '../../core/plugin.js';
import { findVisibleGeneration } from '../../contracts/visible-generation.js';
import { etagOf, noneMatch, notModifiedSince, parseRange } from './conditional.js';

const PLUGIN = 'results';

export default definePlugin({
  name: PLUGIN,
  description: 'GET /results/:id/:file — the output files the bridge copied from ComfyUI, with ETag and Range support.',
  dependencies: ['generations'],
  options: { type: 'object', additionalProperties: false, properties: {} },
  register(ctx) {
    const generations = ctx.use('generations');

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
      async handler(http: Context) {
        const { id, file } = http.params as { id: string; file: string };
        const principal = (http.state.principal as Principal | undefined) ?? ANONYMOUS;
        const gen = await findVisibleGeneration(generations, { id }, principal);
        if (!gen) throw notFound(`no generation ${id}`);
        // Only names recorded at copy time are served; the request never builds a path by itself.
        const result = gen.results.find((r) => r.filename === file);
        if (!result) throw notFound(`generation ${id} has no result named ${file}`);
        const path = generations.resultPath(gen, result.filename);
        const stats = await stat(path).catch(() => undefined);
        if (!stats?.isFile()) throw notFound(`the result ${file} of generation ${id} is no longer stored`);

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
          http.body = length === 0 ? Buffer.alloc(0) : createReadStream(path, { start, end });
        }
        http.status = range.kind === 'partial' ? 206 : 200;
        if (range.kind === 'partial') http.set('Content-Range', `bytes ${start}-${end}/${stats.size}`);
        http.type = result.contentType;
        http.length = length;
      },
    });
  },
});
