import type { Generation, GenerationState } from '../../contracts/generation.js';

export interface HistoryItem {
  id: string;
  timestamp: string;
  workflow: string;
  status: GenerationState;
  clientId: string;
  result_url?: string | null;
  result_urls?: string[];
  error_message?: string;
}

/** One row of GET /history in the seed's shape (SPEC §2.5). */
export function toHistoryItem(gen: Generation, resultUrl: (gen: Generation, file: string) => string): HistoryItem {
  const item: HistoryItem = { id: gen.id, timestamp: gen.createdAt, workflow: gen.workflow, status: gen.state, clientId: gen.clientId };
  if (gen.state === 'completed') {
    const urls = gen.results.map((r) => resultUrl(gen, r.filename));
    item.result_url = urls[0] ?? null;
    item.result_urls = urls;
  } else if (gen.state === 'failed' || gen.state === 'interrupted') {
    item.error_message = gen.error ?? (gen.state === 'interrupted' ? 'interrupted' : 'failed');
  }
  return item;
}

/** `<base>/results/<id>/<file>`, each segment encoded (file names come from workflows). */
export function buildResultUrl(base: string, gen: Generation, file: string): string {
  return `${base.replace(/\/+$/, '')}/results/${encodeURIComponent(gen.id)}/${encodeURIComponent(file)}`;
}
