import type { BackendConnection } from './backend-connection.js';
import { UnreachableError } from './http-client.js';
import { foundInHistory, isObject, queuePlace, queuePlaces, readJob } from './protocol.js';
import type { Found } from './protocol.js';

/**
 * Stateless questions and orders to one backend (lookup, cancel), over the newer /api/jobs routes
 * when the backend has them and the 0.3.64 routes otherwise. Failures to reach the backend, and
 * answers that are not an answer (5xx), throw UnreachableError: callers must not read them as
 * "the backend does not know this prompt".
 */

export type CancelOutcome = 'removed' | 'interrupted' | 'not_found';

function unanswered(route: string, status: number): UnreachableError {
  return new UnreachableError(`${route} answered HTTP ${status}`);
}

async function jobOf(backend: BackendConnection, promptId: string): Promise<Found> {
  const res = await backend.http.json('GET', `/api/jobs/${encodeURIComponent(promptId)}`);
  if (res.status === 404) return { state: 'unknown' };
  if (res.status !== 200) throw unanswered('GET /api/jobs/{id}', res.status);
  return readJob(res.body);
}

async function placeInQueue(backend: BackendConnection, promptId: string): Promise<'running' | 'pending' | 'absent'> {
  const res = await backend.http.json('GET', '/queue');
  if (res.status !== 200) throw unanswered('GET /queue', res.status);
  return queuePlace(res.body, promptId);
}

/**
 * What the backend knows of these prompts. Queue first, then history: a prompt that leaves the
 * queue between the two reads is in history by the second, so it is never reported unknown.
 */
export async function lookupPrompts(backend: BackendConnection, promptIds: string[]): Promise<Map<string, Found>> {
  const result = new Map<string, Found>();
  if (backend.jobsApi) {
    for (const id of promptIds) result.set(id, await jobOf(backend, id));
    return result;
  }
  const queue = await backend.http.json('GET', '/queue');
  if (queue.status !== 200) throw unanswered('GET /queue', queue.status);
  const places = queuePlaces(queue.body);
  for (const id of promptIds) {
    const place = places.get(id) ?? 'absent';
    if (place !== 'absent') {
      result.set(id, { state: place === 'running' ? 'running' : 'queued' });
      continue;
    }
    const res = await backend.http.json('GET', `/history/${encodeURIComponent(id)}`);
    if (res.status !== 200) throw unanswered('GET /history/{id}', res.status);
    const entry = isObject(res.body) ? res.body[id] : undefined;
    result.set(id, entry === undefined ? { state: 'unknown' } : foundInHistory(entry));
  }
  return result;
}

/** Remove from the queue first, then interrupt by prompt_id, so a prompt starting in between is caught. */
async function cancelViaQueue(backend: BackendConnection, promptId: string): Promise<CancelOutcome> {
  const before = await placeInQueue(backend, promptId);
  if (before === 'absent') return 'not_found';
  await backend.http.json('POST', '/queue', { delete: [promptId] });
  const after = await placeInQueue(backend, promptId);
  if (before === 'running' || after === 'running') {
    // Targeted: with prompt_id, ComfyUI interrupts only if that prompt is the one running.
    await backend.http.json('POST', '/interrupt', { prompt_id: promptId });
    return 'interrupted';
  }
  return 'removed';
}

/** Newer ComfyUI: the jobs cancel route. undefined when the backend lacks it (then the queue route is used). */
async function cancelViaJobs(backend: BackendConnection, promptId: string): Promise<CancelOutcome | undefined> {
  const before = await jobOf(backend, promptId);
  if (before.state !== 'queued' && before.state !== 'running') return 'not_found';
  const res = await backend.http.json('POST', `/api/jobs/${encodeURIComponent(promptId)}/cancel`, {});
  if (res.status === 404 || res.status === 405) {
    backend.jobsCancel = false;
    return undefined;
  }
  if (res.status >= 300) return undefined;
  return before.state === 'queued' ? 'removed' : 'interrupted';
}

export async function cancelPrompt(backend: BackendConnection, promptId: string): Promise<CancelOutcome> {
  if (backend.jobsApi && backend.jobsCancel) {
    const viaJobs = await cancelViaJobs(backend, promptId);
    if (viaJobs) return viaJobs;
  }
  return cancelViaQueue(backend, promptId);
}
