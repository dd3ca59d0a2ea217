import { BridgeApiError } from './errors.js';

export type Query = Record<string, string | number | boolean | undefined>;

export interface HttpOptions {
  baseUrl: string;
  apiKey?: string;
  fetch: typeof fetch;
}

export interface RequestOptions {
  query?: Query;
  json?: unknown;
  form?: FormData;
  signal?: AbortSignal;
}

/** `base` + path + query, dropping undefined values. */
export function buildUrl(base: string, path: string, query: Query = {}): string {
  const url = new URL(base.replace(/\/+$/, '') + path);
  for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, String(value));
  return url.toString();
}

/** One HTTP call: JSON in, JSON out; a non-2xx answer becomes a BridgeApiError with the server's error body. */
export async function request<T>(http: HttpOptions, method: 'GET' | 'POST', path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (http.apiKey) headers.authorization = `Bearer ${http.apiKey}`;
  let body: string | FormData | undefined;
  if (options.form) body = options.form;
  else if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  }
  let response: Response;
  try {
    response = await http.fetch(buildUrl(http.baseUrl, path, options.query), { method, headers, body, signal: options.signal });
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    throw new BridgeApiError(0, 'network_error', `could not reach ${http.baseUrl}: ${(error as Error).message}`);
  }
  if (response.ok) return (await response.json()) as T;
  throw await apiError(response);
}

/** The error of a refused answer; a body that is not the bridge's (a proxy's HTML page) keeps its status. */
export async function apiError(response: Response): Promise<BridgeApiError> {
  const text = await response.text().catch(() => '');
  let error = 'http_error';
  let detail = text.slice(0, 200) || response.statusText;
  try {
    const parsed = JSON.parse(text) as { error?: unknown; detail?: unknown };
    if (typeof parsed.error === 'string') error = parsed.error;
    if (typeof parsed.detail === 'string') detail = parsed.detail;
  } catch {
    // not JSON: keep the text
  }
  const retry = Number(response.headers.get('retry-after'));
  return new BridgeApiError(response.status, error, detail, response.headers.get('x-request-id') ?? undefined, Number.isFinite(retry) && retry > 0 ? retry : undefined);
}
