import type { ServerResponse } from 'node:http';
import { sendJson } from './http-routes.js';
import type { HistoryEntry, QueueItem } from './prompt-queue.js';
import type { PyValue } from './py-json.js';
import type { ComfyRuntime } from './runtime.js';

/**
 * The newer /api/jobs routes (comfy_execution/jobs.py of later ComfyUI releases), served only with
 * `hasJobsApi: true` because 0.3.64 — the captured version — does not have them (404).
 * Subset: GET /api/jobs (?status=, limit, offset) and GET /api/jobs/{id}.
 */

const prune = (o: Record<string, PyValue | undefined>): Record<string, PyValue> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined)) as Record<string, PyValue>;

function fromQueue(item: QueueItem, status: string, detail: boolean): Record<string, PyValue> {
  const job = prune({ id: item[1], status, priority: item[0], create_time: item[3].create_time, outputs_count: 0, previewable_outputs_count: 0 });
  if (detail) job.workflow = { prompt: item[2], extra_data: item[3] };
  return job;
}

function fromHistory(id: string, entry: HistoryEntry, detail: boolean): Record<string, PyValue> {
  const [priority, , prompt, extra] = entry.prompt as [PyValue, string, PyValue, Record<string, PyValue>];
  let start: PyValue | undefined;
  let end: PyValue | undefined;
  let error: PyValue | undefined;
  let interrupted = false;
  for (const [event, data] of entry.status?.messages ?? []) {
    if (event === 'execution_start') start = data.timestamp;
    if (event === 'execution_success' || event === 'execution_error' || event === 'execution_interrupted') end = data.timestamp;
    if (event === 'execution_error') error = data;
    if (event === 'execution_interrupted') interrupted = true;
  }
  const status = entry.status?.status_str === 'error' ? (interrupted ? 'cancelled' : 'failed') : 'completed';
  let count = 0;
  let preview: PyValue | undefined;
  for (const [nodeId, out] of Object.entries(entry.outputs)) {
    for (const [mediaType, items] of Object.entries(out as Record<string, PyValue>)) {
      if (!Array.isArray(items)) continue;
      for (const item of items) {
        count++;
        if (preview === undefined && item && typeof item === 'object') preview = { ...(item as Record<string, PyValue>), nodeId, mediaType };
      }
    }
  }
  const job = prune({
    id, status, priority, create_time: extra?.create_time, execution_start_time: start, execution_end_time: end, execution_error: error,
    outputs_count: count, previewable_outputs_count: count, preview_output: preview,
  });
  if (detail) {
    job.outputs = entry.outputs;
    job.execution_status = entry.status;
    job.workflow = { prompt, extra_data: extra };
  }
  return job;
}

export function jobsRoutes(runtime: ComfyRuntime, method: string, path: string, query: URLSearchParams, res: ServerResponse): boolean {
  if (method !== 'GET') return false;
  const running = [...runtime.running.values()];
  if (path === '/api/jobs') {
    const wanted = query.get('status')?.split(',');
    const all = [
      ...running.map((i) => fromQueue(i, 'in_progress', false)),
      ...runtime.queue.map((i) => fromQueue(i, 'pending', false)),
      ...[...runtime.history.entries()].reverse().map(([id, e]) => fromHistory(id, e, false)),
    ].filter((j) => !wanted || wanted.includes(String(j.status)));
    const offset = Number(query.get('offset') ?? 0);
    const limit = query.has('limit') ? Number(query.get('limit')) : null;
    sendJson(res, 200, { jobs: all.slice(offset, limit === null ? undefined : offset + limit), pagination: { offset, limit, total: all.length } });
    return true;
  }
  const m = /^\/api\/jobs\/([^/]+)$/.exec(path);
  if (!m) return false;
  const id = decodeURIComponent(m[1]);
  const entry = runtime.history.get(id);
  const job = entry
    ? fromHistory(id, entry, true)
    : running.find((i) => i[1] === id)
      ? fromQueue(running.find((i) => i[1] === id) as QueueItem, 'in_progress', true)
      : runtime.queue.find((i) => i[1] === id)
        ? fromQueue(runtime.queue.find((i) => i[1] === id) as QueueItem, 'pending', true)
        : null;
  if (job) sendJson(res, 200, job);
  else sendJson(res, 404, { error: 'Job not found' });
  return true;
}
