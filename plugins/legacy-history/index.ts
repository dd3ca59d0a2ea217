import { Type } from '@sinclair/typebox';
import type { Context } from 'koa';
import { definePlugin } from '../../core/plugin.js';
import { conflict } from '../../core/errors.js';
import { multipartStream, newBoundary, type BundledFile } from './multipart.js';

const PLUGIN = 'legacy-history';

/** The part of a GET /history page this plugin reads (the history plugin's SPEC §2.5 shape). */
interface HistoryPage {
  history: { id: string; status: string }[];
}

const isHistoryPage = (body: unknown): body is HistoryPage =>
  typeof body === 'object' && body !== null && Array.isArray((body as { history?: unknown }).history);

/** Exactly `?clientId=X`: the original scripts' request. Any other parameter keeps the JSON page. */
function legacyRequest(http: Context): boolean {
  const keys = Object.keys(http.query);
  return http.method === 'GET' && http.path === '/history' && keys.length === 1 && keys[0] === 'clientId' && typeof http.query.clientId === 'string';
}

/**
 * `GET /history?clientId=X` (and no other parameter) answers as the original bridge did: a
 * multipart/form-data bundle of the client's latest result files, fields result_0, result_1, … —
 * so the original client scripts (ws_example.py, rest_example.py) run unchanged. Off by default.
 *
 * It rewrites the history plugin's answer in `onResponse` (after the route ran, before Koa writes):
 * the history route has already authenticated the caller, checked the clientId's owner and found
 * the client's generations newest first, so this plugin adds no second way in.
 */
export default definePlugin({
  name: PLUGIN,
  description: 'GET /history?clientId=X answers as the original bridge: a multipart bundle of the latest result files.',
  dependencies: ['history', 'generations', 'results'],
  options: Type.Object({}, { additionalProperties: false }),
  register(ctx) {
    const generations = ctx.use('generations');
    const results = ctx.use('results');

    ctx.hooks.onResponse.tap(PLUGIN, (http: Context) => {
      if (http.status !== 200 || !legacyRequest(http) || !isHistoryPage(http.body)) return;
      const latest = http.body.history[0];
      http.remove('ETag');
      if (!latest) {
        // What the original answered for a clientId it did not know; its scripts download only on 200.
        http.status = 204;
        http.body = null;
        return;
      }
      if (latest.status !== 'completed') {
        const refusal = conflict(`the latest generation of clientId ${http.query.clientId as string} is ${latest.status}: it has no result files yet`);
        http.status = refusal.status;
        http.body = { error: refusal.code, detail: refusal.detail };
        return;
      }
      const files = async (): Promise<BundledFile[]> => {
        const gen = await generations.get(latest.id);
        // Files lost since their rows were written are restored from the results log at start: not read before.
        await results.restored?.();
        return (gen?.results ?? []).map((result, index) => ({
          field: `result_${index}`,
          filename: result.filename,
          contentType: result.contentType,
          path: results.path(gen!.id, result.filename),
        }));
      };
      const boundary = newBoundary();
      http.body = multipartStream(boundary, files, (file) => ctx.log.warn({ id: latest.id, file: file.filename }, 'result file no longer stored; left out of the bundle'));
      http.type = `multipart/form-data; boundary=${boundary}`;
    });
  },
});
